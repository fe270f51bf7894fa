// The weights of a packet, decoded and scaled: for the hosts of the weight formats that stage
// whole values (matmul.wgsl's gemm loop, matmul_blocked.wgsl), put in front of them after the
// format. Uses the format's decode, packetSlots, packetGroups, affine and xScale (matmul.wgsl's
// header lists them), and the host's Packet.

// The 8 weights of packet i: codes·scale + bias of their groups (the codes, unless AFFINE), the
// codes taken out of place by their slots' xScale.
fn weights(unit: Unit, i: u32) -> Packet {
  let codes = decode(unit, i);
  if (!AFFINE) {
    return codes;
  }
  let slots = packetSlots(i);
  let g = packetGroups(i);
  let a = affine(unit, g.x);
  let b = affine(unit, g.y);
  return Packet(
    codes.lo * (xScale(slots.x) * a.x) + a.y,
    codes.hi * (xScale(slots.y) * b.x) + b.y,
  );
}
