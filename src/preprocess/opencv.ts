// Loads @u4/opencv4nodejs once, quietly, against the system OpenCV (Debian's libopencv-dev or
// JetPack's): without OPENCV4NODEJS_DISABLE_AUTOBUILD it would try to build OpenCV from source
// whenever the process's working directory is not this package.
import type * as CV from '@u4/opencv4nodejs';

export type OpenCV = typeof CV.default;
export type Mat = InstanceType<OpenCV['Mat']>;

let loading: Promise<OpenCV> | undefined;

export function loadOpenCV(): Promise<OpenCV> {
  loading ??= (async () => {
    process.env.OPENCV4NODEJS_DISABLE_AUTOBUILD ??= '1';
    // The binding's Mat allocator reports pixel memory to V8 from Mat destructors, and those also
    // run in GC finalizers: Node 20 then aborts now and then in CppHeap::TraceEpilogue
    // ("Check failed: marking_done_", UrielCh/opencv4nodejs#134 and #148). Every Mat of the live
    // path is released explicitly (`releasing`), so V8 need not be told about their pixels.
    process.env.OPENCV4NODEJS_DISABLE_EXTERNAL_MEM_TRACKING ??= '1';
    const build = await import('@u4/opencv-build');
    build.Log.silence = true;
    const mod = await import('@u4/opencv4nodejs');
    return mod.default;
  })();
  return loading;
}

/**
 * Runs `body` with `keep`, which marks a Mat to be released when `body` settles: the pixels of
 * intermediate images are freed at once instead of whenever the garbage collector finds their
 * small wrappers (which, with the allocator's reports to V8 off, it has no pixel size to hurry it).
 */
export async function releasing<T>(body: (keep: <M extends Mat>(mat: M) => M) => Promise<T>): Promise<T> {
  const mats: Mat[] = [];
  try {
    return await body((mat) => {
      mats.push(mat);
      return mat;
    });
  } finally {
    for (const mat of mats) mat.release();
  }
}
