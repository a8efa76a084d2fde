#!/usr/bin/env python3
"""Usage: check-layers.py [REPO_ROOT]

Fails when a module includes a module that is not below it (DESIGN §2).

Each folder src/conet/<module>/ is a module. A module may include its own
headers and those of modules in strictly lower layers; modules in the same
layer are independent of each other. The table below is the same graph as
docs/architecture.md. An unknown module folder is an error, so a new module
must be placed in a layer here first.
"""
import pathlib
import re
import sys

LAYERS = [
    ["util"],
    ["crypto", "codec", "runtime", "web"],
    ["net"],
    ["ledger"],
    ["rpc", "proxy", "relay", "consensus", "incentive"],
    ["node", "sim"],
    ["app"],
]
RANK = {m: i for i, layer in enumerate(LAYERS) for m in layer}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]conet/([a-z_0-9]+)/', re.MULTILINE)


def main() -> int:
    repo = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent
    root = repo / "src" / "conet"
    errors = []
    checked = 0
    for module_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        module = module_dir.name
        if module not in RANK:
            errors.append(f"{module_dir}: module '{module}' is not in any layer (scripts/check-layers.py)")
            continue
        for path in sorted(module_dir.rglob("*")):
            if path.suffix not in (".hpp", ".cpp", ".h", ".cc"):
                continue
            checked += 1
            text = path.read_text(encoding="utf-8")
            for m in INCLUDE.finditer(text):
                dep = m.group(1)
                line = text.count("\n", 0, m.start()) + 1
                rel = path.relative_to(root.parent.parent)
                if dep not in RANK:
                    errors.append(f"{rel}:{line}: includes unknown module '{dep}'")
                elif dep != module and RANK[dep] >= RANK[module]:
                    errors.append(
                        f"{rel}:{line}: '{module}' (layer {RANK[module]}) may not include "
                        f"'{dep}' (layer {RANK[dep]})")
    for e in errors:
        print(e, file=sys.stderr)
    print(f"check-layers: {checked} files, {len(errors)} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
