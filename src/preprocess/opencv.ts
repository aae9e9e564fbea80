// Loads @u4/opencv4nodejs once, quietly, against the system OpenCV (Debian's libopencv-dev or
// JetPack's): without OPENCV4NODEJS_DISABLE_AUTOBUILD it would try to build OpenCV from source
// whenever the process's working directory is not this package.
import type * as CV from '@u4/opencv4nodejs';

export type OpenCV = typeof CV.default;

let loading: Promise<OpenCV> | undefined;

export function loadOpenCV(): Promise<OpenCV> {
  loading ??= (async () => {
    process.env.OPENCV4NODEJS_DISABLE_AUTOBUILD ??= '1';
    const build = await import('@u4/opencv-build');
    build.Log.silence = true;
    const mod = await import('@u4/opencv4nodejs');
    return mod.default;
  })();
  return loading;
}
