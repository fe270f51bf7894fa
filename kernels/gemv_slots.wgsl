// x's slots of one unit for matmul.wgsl's gemv loop, each lane loading all of them itself.
// gemv_slots_broadcast.wgsl replaces this file where lanes share x through subgroup broadcasts.

fn loadSlots(xs: ptr<function, array<vec4<f32>, XSLOTS>>, u: u32) {
  for (var s = 0u; s < XSLOTS; s++) {
    (*xs)[s] = x4(xCol(u, s));
  }
}
