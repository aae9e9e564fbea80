// Images to PNG or JPEG bytes through OpenCV's asynchronous calls (libuv's thread pool), so the
// event loop only copies the pixels in and the bytes out.
import type { Image8 } from '../core/image.js';
import { loadOpenCV, releasing } from '../preprocess/opencv.js';

export async function encodeImage(image: Image8, format: '.png' | '.jpg', quality = 85): Promise<Buffer> {
  const cv = await loadOpenCV();
  const { width, height, channels } = image;
  const data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return releasing(async (keep) => {
    let mat = keep(new cv.Mat(data, height, width, channels === 1 ? cv.CV_8UC1 : cv.CV_8UC3));
    if (channels === 3) mat = keep(await mat.cvtColorAsync(cv.COLOR_RGB2BGR));
    return cv.imencodeAsync(format, mat, format === '.jpg' ? [cv.IMWRITE_JPEG_QUALITY, quality] : []);
  });
}

/** `image` scaled to `width` x `height` (area averaging), off the event loop. */
export async function resizeImage(image: Image8, width: number, height: number): Promise<Image8> {
  const cv = await loadOpenCV();
  const data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return releasing(async (keep) => {
    const mat = keep(new cv.Mat(data, image.height, image.width, image.channels === 1 ? cv.CV_8UC1 : cv.CV_8UC3));
    const small = keep(await mat.resizeAsync(height, width, 0, 0, cv.INTER_AREA));
    return { width, height, channels: image.channels, data: new Uint8Array(small.getData()) };
  });
}
