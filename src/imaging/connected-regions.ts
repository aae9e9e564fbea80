// Connected regions of a binary mask (8-connectivity, as the MVTec AD evaluation's
// scipy.ndimage.label with a 3x3 structure): defect regions of live anomaly maps and the
// ground-truth regions of the per-region overlap metric.

/** Labels 1..R for foreground pixels (mask != 0), 0 for background; sizes[r] = pixel count. */
export function labelRegions(mask: Uint8Array, width: number, height: number): { labels: Int32Array; sizes: number[] } {
  const labels = new Int32Array(width * height);
  const sizes = [0];
  const stack: number[] = [];
  for (let start = 0; start < mask.length; start++) {
    if (mask[start] === 0 || labels[start] !== 0) continue;
    const r = sizes.length;
    sizes.push(0);
    labels[start] = r;
    stack.push(start);
    while (stack.length > 0) {
      const p = stack.pop()!;
      sizes[r]!++;
      const x = p % width;
      const y = (p - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (mask[q] !== 0 && labels[q] === 0) {
            labels[q] = r;
            stack.push(q);
          }
        }
      }
    }
  }
  return { labels, sizes };
}
