// x's slots of one unit for matmul.wgsl's gemv loop when every lane of a subgroup walks the same
// units (KL = 1, lanes owning whole rows): lane l loads slots l, l + 8, … and subgroupBroadcast
// hands each to the others. lavapipe loads a storage buffer one component per lane, behind a
// bounds check and a branch, even where every lane asks for the same address; the broadcast is
// one register permute. Replaces gemv_slots.wgsl (gemvBroadcastSources, matmul.ts), which also
// sets slotLane, this lane's place among 8 (subgroups of 16 or 32 lanes repeat the loads).

var<private> slotLane: u32;

fn loadSlots(xs: ptr<function, array<vec4<f32>, XSLOTS>>, u: u32) {
  for (var j = 0u; j < XSLOTS / 8u; j++) {
    let mine = x4(xCol(u, 8u * j + slotLane));
    (*xs)[8u * j] = subgroupBroadcast(mine, 0u);
    (*xs)[8u * j + 1u] = subgroupBroadcast(mine, 1u);
    (*xs)[8u * j + 2u] = subgroupBroadcast(mine, 2u);
    (*xs)[8u * j + 3u] = subgroupBroadcast(mine, 3u);
    (*xs)[8u * j + 4u] = subgroupBroadcast(mine, 4u);
    (*xs)[8u * j + 5u] = subgroupBroadcast(mine, 5u);
    (*xs)[8u * j + 6u] = subgroupBroadcast(mine, 6u);
    (*xs)[8u * j + 7u] = subgroupBroadcast(mine, 7u);
  }
  for (var s = XSLOTS / 8u * 8u; s < XSLOTS; s++) {
    (*xs)[s] = x4(xCol(u, s));
  }
}
