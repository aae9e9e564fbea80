#!/usr/bin/env python3
"""Export a PatchCore backbone to ONNX with its feature layers as graph outputs, plus the
backbone spec (JSON) that patchline reads.

Run with a Python that has torch + torchvision (+ timm for vit_base), e.g. Debian's:
    /usr/bin/python3 tools/export_backbone.py --arch wideresnet50 --layers layer2,layer3 --out models/
On a machine with internet it uses the torchvision ImageNet weights; --random-weights builds the
same graph with seeded random weights (offline tests and benchmarks).
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys

import torch
import torchvision

# name -> (torchvision constructor, default layers, stride of each stage)
RESNET_LIKE = {
    "resnet18": ("resnet18", "IMAGENET1K_V1"),
    "resnet50": ("resnet50", "IMAGENET1K_V1"),
    "resnet101": ("resnet101", "IMAGENET1K_V1"),
    "resnext101": ("resnext101_32x8d", "IMAGENET1K_V1"),
    "wideresnet50": ("wide_resnet50_2", "IMAGENET1K_V1"),
    "wideresnet101": ("wide_resnet101_2", "IMAGENET1K_V1"),
}
RESNET_STRIDES = {"layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}
MOBILENET_STRIDES = {f"features.{i}": s for i, s in enumerate([2, 2, 4, 4, 8, 8, 8, 16, 16, 16, 16, 16, 16, 16, 32, 32, 32, 32, 32])}
CATALOGUE = sorted(list(RESNET_LIKE) + ["mobilenetv2", "vit_base"])
IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


class Truncated(torch.nn.Module):
    """Runs the backbone's stages in order and stops after the last requested one (the ONNX
    counterpart of the reference's LastLayerToExtractReachedException)."""

    def __init__(self, stages, layers):
        super().__init__()
        last = max(i for i, (name, _) in enumerate(stages) if name in layers)
        self.names = [name for name, _ in stages[: last + 1]]
        self.stages = torch.nn.ModuleList([m for _, m in stages[: last + 1]])
        self.layers = layers

    def forward(self, x):
        out = {}
        for name, stage in zip(self.names, self.stages):
            x = stage(x)
            if name in self.layers:
                out[name] = x
        return tuple(out[name] for name in self.layers)


class VitGrid(torch.nn.Module):
    """ViT tokens of the requested blocks reshaped to [N, C, H/16, W/16] grids."""

    def __init__(self, vit, layers):
        super().__init__()
        self.vit = vit
        self.blocks = [int(l.split(".")[1]) for l in layers]

    def forward(self, x):
        n, _, h, w = x.shape
        t = self.vit.patch_embed(x)
        t = torch.cat([self.vit.cls_token.expand(n, -1, -1), t], dim=1) + self.vit.pos_embed
        outs = []
        for i, block in enumerate(self.vit.blocks[: max(self.blocks) + 1]):
            t = block(t)
            if i in self.blocks:
                outs.append(t[:, 1:].transpose(1, 2).reshape(n, -1, h // 16, w // 16))
        return tuple(outs)


def build(arch, layers, random_weights):
    torch.manual_seed(0)
    if arch in RESNET_LIKE:
        ctor, weights = RESNET_LIKE[arch]
        m = getattr(torchvision.models, ctor)(weights=None if random_weights else weights)
        stages = [("stem", torch.nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool))] + [(f"layer{i}", getattr(m, f"layer{i}")) for i in range(1, 5)]
        return Truncated(stages, layers), {l: RESNET_STRIDES[l] for l in layers}
    if arch == "mobilenetv2":
        m = torchvision.models.mobilenet_v2(weights=None if random_weights else "IMAGENET1K_V1")
        stages = [(f"features.{i}", f) for i, f in enumerate(m.features)]
        return Truncated(stages, layers), {l: MOBILENET_STRIDES[l] for l in layers}
    if arch == "vit_base":
        try:
            import timm
        except ImportError:
            sys.exit("vit_base needs timm (pip install timm); it is not installed here")
        vit = timm.create_model("vit_base_patch16_224", pretrained=not random_weights)
        return VitGrid(vit, layers), {l: 16 for l in layers}
    sys.exit(f"unknown --arch {arch!r}; choose one of {', '.join(CATALOGUE)}")


DEFAULT_LAYERS = {"mobilenetv2": "features.6,features.13", "vit_base": "blocks.7,blocks.11"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="wideresnet50", choices=CATALOGUE)
    ap.add_argument("--layers", help="comma-separated layers (default layer2,layer3 for ResNets)")
    ap.add_argument("--out", default="models", help="output folder for NAME.onnx and NAME.backbone.json")
    ap.add_argument("--name", help="file name stem (default: ARCH[-random])")
    ap.add_argument("--size", type=int, default=224, help="input size used for the export check")
    ap.add_argument("--random-weights", action="store_true", help="seeded random weights instead of ImageNet ones (offline)")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--no-check", action="store_true", help="skip running the export in onnxruntime (through patchline) against torch")
    args = ap.parse_args()
    layers = (args.layers or DEFAULT_LAYERS.get(args.arch, "layer2,layer3")).split(",")
    model, strides = build(args.arch, layers, args.random_weights)
    model.eval()
    name = args.name or (args.arch + ("-random" if args.random_weights else ""))
    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, f"{name}.onnx")
    x = torch.randn(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(1))
    dynamic = {"input": {0: "batch", 2: "height", 3: "width"}}
    dynamic.update({l: {0: "batch", 2: "h", 3: "w"} for l in layers})
    with torch.no_grad():
        expected = model(x)
        torch.onnx.export(model, x, onnx_path, input_names=["input"], output_names=layers, dynamic_axes=dynamic, opset_version=args.opset, do_constant_folding=True)
    import onnx

    onnx.checker.check_model(onnx_path, full_check=True)
    digest = hashlib.sha256(open(onnx_path, "rb").read()).hexdigest()
    spec = {
        "name": name,
        "onnx": f"{name}.onnx",
        "sha256": digest,
        "normalization": IMAGENET,
        "layers": {l: {"tensor": l, "stride": strides[l]} for l in layers},
        "defaultLayers": layers,
        "export": {"arch": args.arch, "randomWeights": args.random_weights, "torch": torch.__version__, "torchvision": torchvision.__version__, "opset": args.opset},
    }
    spec_path = os.path.join(args.out, f"{name}.backbone.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f, indent=2)
    # Reference outputs for the export check patchline runs with onnxruntime.
    import numpy as np

    np.save(os.path.join(args.out, f"{name}.check_input.npy"), x.numpy())
    for l, t in zip(layers, expected):
        np.save(os.path.join(args.out, f"{name}.check_{l}.npy"), t.numpy())
    checked = None if args.no_check else check_with_patchline(spec_path, os.path.join(args.out, f"{name}.check_input.npy"), {l: os.path.join(args.out, f"{name}.check_{l}.npy") for l in layers})
    print(json.dumps({"onnx": onnx_path, "spec": spec_path, "sha256": digest, "layers": {l: list(t.shape) for l, t in zip(layers, expected)}, "checked": checked}))


def check_with_patchline(spec, x, expected):
    """Runs the export in onnxruntime through `patchline model check` and compares with torch."""
    cli = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin", "patchline.js")
    node = shutil.which("node")
    cmd = [node or "node", cli, "model", "check", spec, "--input", x] + [a for l, f in expected.items() for a in ("--expect", f"{l}={f}")]
    if not node or not os.path.exists(os.path.join(os.path.dirname(cli), "..", "dist", "cli", "main.js")):
        print("export check skipped: node or a built patchline is missing; run: " + " ".join(cmd), file=sys.stderr)
        return False
    result = subprocess.run(cmd, capture_output=True, text=True)
    sys.stderr.write(result.stdout + result.stderr)
    if result.returncode != 0:
        sys.exit("export check failed: onnxruntime and torch disagree (see above)")
    return True


if __name__ == "__main__":
    main()
