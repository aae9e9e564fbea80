// Heat-map overlays for people: the image with the anomaly map in JET colours (green-yellow at
// the threshold, red above) and, when known, the ground truth outlined in white. The pixel work
// runs in OpenCV's asynchronous calls (libuv's thread pool), not on the event loop.
import type { Image8 } from '../core/image.js';
import { loadOpenCV, releasing, type Mat } from '../preprocess/opencv.js';

/** `image` and `map` share one size. Without a threshold the map is scaled to its maximum. */
export async function overlay(image: Image8, map: Float32Array, threshold: number, mask?: Uint8Array): Promise<Mat> {
  const cv = await loadOpenCV();
  const { width, height } = image;
  return releasing(async (keep) => {
    const rgb = keep(new cv.Mat(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), height, width, cv.CV_8UC3));
    const bgr = keep(await rgb.cvtColorAsync(cv.COLOR_RGB2BGR));
    const scores = keep(new cv.Mat(Buffer.from(map.buffer, map.byteOffset, map.byteLength), height, width, cv.CV_32FC1));
    const scale = threshold > 0 ? 127.5 / threshold : 255 / Math.max(1e-9, scores.minMaxLoc().maxVal);
    // convertTo saturates to 0..255 and rounds: the threshold lands at 127.5.
    const heat = keep(await cv.applyColorMapAsync(keep(await scores.convertToAsync(cv.CV_8UC1, scale)), cv.COLORMAP_JET));
    const blended = await bgr.addWeightedAsync(0.55, heat, 0.45, 0);
    if (mask?.some((v) => v)) {
      const m = keep(new cv.Mat(Buffer.from(Uint8Array.from(mask, (v) => v * 255)), height, width, cv.CV_8UC1));
      blended.drawContours(
        m.findContours(cv.RETR_EXTERNAL, cv.CHAIN_APPROX_SIMPLE).map((c) => c.getPoints()),
        -1,
        new cv.Vec3(255, 255, 255),
        1,
      );
    }
    return blended;
  });
}

export async function overlayJpeg(image: Image8, map: Float32Array, threshold: number, quality: number): Promise<Buffer> {
  const cv = await loadOpenCV();
  return releasing(async (keep) =>
    cv.imencodeAsync('.jpg', keep(await overlay(image, map, threshold)), [cv.IMWRITE_JPEG_QUALITY, quality]),
  );
}
