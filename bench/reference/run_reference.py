"""Runs amazon-science/patchcore-inspection (a checkout given with --repo, never copied into
patchline) on the job that bench/reference.ts describes, and times it the way patchline's
benchmark times itself: fit split into embedding and coreset, then predict over test images.

The job pins everything that is random in the reference to patchline's values, so both sides
do identical work: the backbone is torchvision's architecture after torch.manual_seed(seed)
(what tools/export_backbone.py --random-weights exported to ONNX), the coreset's 128-dim
projection weight and its start points are read from the job instead of torch's and numpy's
RNGs. Debian ships no timm; the reference imports it at module level only, so an empty stub
module stands in.

Usage: /usr/bin/python3 run_reference.py JOB.json OUT_DIR   (writes OUT_DIR/result.json)
"""
import json
import os
import sys
import tempfile
import time


def stub_timm():
    d = tempfile.mkdtemp(prefix="patchline-timm-stub-")
    os.makedirs(os.path.join(d, "timm"))
    open(os.path.join(d, "timm", "__init__.py"), "w").close()
    sys.path.insert(0, d)


def main():
    job_path, out_dir = sys.argv[1], sys.argv[2]
    with open(job_path) as f:
        job = json.load(f)
    stub_timm()
    sys.path.insert(0, os.path.join(job["repo"], "src"))

    import numpy as np
    import PIL.Image
    import torch
    import torchvision
    from torchvision import transforms

    import patchcore.common
    import patchcore.patchcore
    import patchcore.sampler

    torch.set_num_threads(job["threads"])

    torch.manual_seed(job["backboneSeed"])
    backbone = getattr(torchvision.models, job["torchvisionArch"])(weights=None)
    backbone.name = job["torchvisionArch"]
    backbone.eval()

    size = job["size"]
    # The reference's MVTecDataset transform with resize == imagesize == the exact input size.
    transform = transforms.Compose(
        [
            transforms.Resize((size, size)),
            transforms.ToTensor(),
            transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )

    class Images(torch.utils.data.Dataset):
        def __init__(self, paths):
            self.paths = paths

        def __len__(self):
            return len(self.paths)

        def __getitem__(self, i):
            return transform(PIL.Image.open(self.paths[i]).convert("RGB"))

    def loader(paths):
        return torch.utils.data.DataLoader(Images(paths), batch_size=job["batch"], shuffle=False, num_workers=job["loaderWorkers"])

    projection = torch.from_numpy(np.load(job["projection"]))
    starts = list(job["startIndices"])

    def reduce_features(self, features):
        # The reference draws this Linear's weight from torch's RNG; here it is patchline's.
        mapper = torch.nn.Linear(features.shape[1], self.dimension_to_project_features_to, bias=False)
        with torch.no_grad():
            mapper.weight.copy_(projection)
            return mapper(features)

    patchcore.sampler.ApproximateGreedyCoresetSampler._reduce_features = reduce_features
    patchcore.sampler.np.random.choice = lambda n, k, replace=False: np.asarray(starts[:k])

    sampler = patchcore.sampler.ApproximateGreedyCoresetSampler(job["percentage"], torch.device("cpu"))
    timings = {}
    picked = {}
    compute = sampler._compute_greedy_coreset_indices

    bank_indices = np.load(job["bankIndices"])

    def timed_indices(features):
        # The projected points, so patchline's coreset can be timed on the very same input.
        np.save(os.path.join(out_dir, "coreset_points.npy"), features.numpy())
        # Each pick costs the same, so a long selection can be timed on its first picks
        # (the greedy sequence of a larger share starts with that of a smaller one).
        if job.get("coresetPicks"):
            sampler.percentage = (job["coresetPicks"] + 0.5) / len(features)
        t = time.perf_counter()
        idx = compute(features)
        timings["coreset"] = time.perf_counter() - t
        picked["indices"] = idx
        # The bank holds the rows patchline picked (of the reference's own embeddings): the
        # two backbones differ by float rounding, enough to flip a near-tie in the greedy
        # selection and from there the whole bank; with the same rows, scores are comparable.
        return bank_indices

    sampler._compute_greedy_coreset_indices = timed_indices

    model = patchcore.patchcore.PatchCore(torch.device("cpu"))
    model.load(
        backbone=backbone,
        layers_to_extract_from=job["layers"],
        device=torch.device("cpu"),
        input_shape=(3, size, size),
        pretrain_embed_dimension=job["pretrainDim"],
        target_embed_dimension=job["targetDim"],
        patchsize=job["patchsize"],
        anomaly_score_num_nn=job["k"],
        featuresampler=sampler,
        nn_method=patchcore.common.FaissNN(False, job["threads"]),
    )

    t0 = time.perf_counter()
    model.fit(loader(job["train"]))
    fit_s = time.perf_counter() - t0

    # Predict batch by batch (what _predict_dataloader does), timing each batch's completion.
    scores = []
    done_at = []
    t0 = time.perf_counter()
    for images in loader(job["test"]):
        s, _maps = model._predict(images)
        scores.extend(float(x) for x in s)
        done_at.extend([time.perf_counter() - t0] * len(s))

    np.save(os.path.join(out_dir, "coreset_indices.npy"), np.asarray(picked["indices"], dtype=np.int64))
    result = {
        "fitSeconds": fit_s,
        "coresetSeconds": timings["coreset"],
        "embedSeconds": fit_s - timings["coreset"],
        "bankRows": int(len(bank_indices)),
        "scores": scores,
        "doneAt": done_at,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    with open(os.path.join(out_dir, "result.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
