"""Builds the English training corpus for Gannet's default model from the documentation of the
Debian packages installed on this machine: manual pages (rendered with groff), plain-text and
Markdown documentation under /usr/share/doc, Python standard-library docstrings and Perl POD.

Every text is attributed to its Debian package (dpkg's file lists) and kept only when the
package's copyright file names a free licence; DATA.md records packages, licences and sizes.
Cleaning: UTF-8, mostly-ASCII paragraphs of prose-like text, repeated paragraphs dropped.
The split is deterministic: a document goes to the held-out slice when the SHA-1 of its source
name falls in bucket 0 of 100 (until the held-out text reaches --heldout-bytes).

    /usr/bin/python3 training/prepare_corpus.py --out .device/corpus --heldout models/heldout.txt \
        --data-md training/DATA.md

Writes OUT/train.txt (documents separated by a line holding only a form feed) and the held-out
text (documents separated the same way). Needs groff and pod2text; no network.
"""

from __future__ import annotations

import argparse
import ast
import collections
import glob
import gzip
import hashlib
import json
import multiprocessing
import os
import re
import subprocess
import sys
import unicodedata

DOC_SEP = "\n\f\n"
EXCLUDED_PACKAGES = {
    # Not a Debian archive package, and 16k near-identical generated pages.
    "google-cloud-cli",
}
# Licence families we accept, matched in copyright files (Debian main is DFSG-free anyway).
FREE_LICENCES = [
    ("GPL", r"\bGPL|GNU General Public License"),
    ("LGPL", r"\bLGPL|GNU (Library|Lesser) General Public"),
    ("GFDL", r"\bGFDL|GNU Free Documentation License"),
    ("BSD", r"\bBSD\b|BSD-[234]-clause"),
    ("MIT/Expat", r"\bMIT\b|\bExpat\b|Permission is hereby granted, free of charge"),
    ("Apache-2.0", r"Apache"),
    ("Artistic", r"Artistic"),
    ("PSF", r"\bPSF|Python Software Foundation License"),
    ("ISC", r"\bISC\b"),
    ("Zlib", r"\bZlib\b|zlib License"),
    ("MPL", r"\bMPL|Mozilla Public License"),
    ("BSL-1.0", r"BSL-1\.0|Boost Software License"),
    ("public-domain", r"public[- ]domain"),
    ("Unicode", r"Unicode-DFS|Unicode, Inc\."),
    ("curl", r"\bcurl\b license|License: curl"),
    ("man-pages", r"\bVERBATIM\b|Linux-man-pages|verbatim copies of this manual"),
]


# --- package attribution and licences -----------------------------------------------------------

def file_owners() -> dict[str, str]:
    owners = {}
    for lst in glob.glob("/var/lib/dpkg/info/*.list"):
        pkg = os.path.basename(lst)[:-5].split(":")[0]
        with open(lst, encoding="utf-8", errors="replace") as f:
            for line in f:
                owners.setdefault(line.rstrip("\n"), pkg)
    return owners


def package_licences(pkg: str) -> list[str]:
    path = f"/usr/share/doc/{pkg}/copyright"
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    return [name for name, rx in FREE_LICENCES if re.search(rx, text)]


# --- text cleaning ------------------------------------------------------------------------------

_LIST_RE = re.compile(r"^([-*+\u2022\u00b7]|\d+[.)]|\(\w\))\s")


def is_prose(par: str) -> bool:
    if not par:
        return False
    n = len(par)
    ascii_chars = sum(1 for c in par if ord(c) < 128)
    if ascii_chars < 0.97 * n:
        return False
    non_space = [c for c in par if not c.isspace()]
    if not non_space:
        return False
    letters = sum(1 for c in non_space if c.isalpha())
    if letters < 0.6 * len(non_space):
        return False
    words = par.split()
    if len(words) >= 4 and sum(1 for w in words if len(w) > 25) > len(words) // 4:
        return False
    return True


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    # Typographic punctuation to ASCII so the vocabulary is not spent on variants.
    table = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2010": "-",
             "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": " - ", "\u2212": "-",
             "\u00a0": " ", "\u2026": "...", "\u2022": "*", "\u00b7": "*", "\t": "    "}
    text = "".join(table.get(c, c) for c in text)
    return "".join(c for c in text if c == "\n" or unicodedata.category(c)[0] != "C")


def paragraphs_from_lines(lines: list[str], join_wrapped: bool) -> list[str]:
    """Blank-line separated blocks; in wrapped plain text the lines of a block are joined unless a
    line starts a list item or is indented code."""
    out, block = [], []

    def flush():
        if not block:
            return
        if join_wrapped:
            cur = ""
            for ln in block:
                s = ln.strip()
                if cur and (_LIST_RE.match(s) or ln.startswith("    ")):
                    out.append(cur)
                    cur = s
                else:
                    cur = f"{cur} {s}" if cur else s
            if cur:
                out.append(cur)
        else:
            out.extend(ln.strip() for ln in block if ln.strip())
        block.clear()

    for ln in lines:
        if ln.strip():
            block.append(ln.rstrip())
        else:
            flush()
            out.append("")
    flush()
    return out


def clean_document(pars: list[str]) -> str:
    """Keeps prose-like paragraphs; keeps blank lines between blocks, collapsed."""
    kept = []
    for p in pars:
        p = re.sub(r"[ ]{2,}", " ", p.strip())
        if not p:
            if kept and kept[-1] != "":
                kept.append("")
            continue
        if is_prose(p):
            kept.append(p)
    while kept and kept[-1] == "":
        kept.pop()
    return "\n".join(kept)


# --- sources ------------------------------------------------------------------------------------

def render_man(path: str) -> str:
    try:
        raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    except OSError:
        return ""
    if raw.lstrip().startswith(b".so "):
        return ""           # an alias of another page
    try:
        p = subprocess.run(["groff", "-t", "-man", "-Tutf8", "-P-cbou", "-rHY=0", "-dAD=l",
                            "-rLL=2000n", "-Kutf8"], input=raw, capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        return ""
    lines = normalize(p.stdout.decode("utf-8", errors="replace")).split("\n")
    lines = [ln for ln in lines if ln.strip()]
    if len(lines) < 3:
        return ""
    lines = lines[1:-1]     # running header and footer
    # Section headings (NAME, DESCRIPTION, ...) are structure, not prose: keep them as short lines.
    pars = []
    for ln in lines:
        pars.append(ln.strip())
    return clean_document(pars)


def read_text_file(path: str) -> str:
    try:
        raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    except OSError:
        return ""
    if b"\0" in raw[:4096]:
        return ""
    text = normalize(raw.decode("utf-8", errors="replace"))
    if path.endswith((".md", ".md.gz", ".markdown")):
        text = re.sub(r"```.*?```", "", text, flags=re.S)              # fenced code
        text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
        text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)                 # images
        text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)             # links -> text
        text = re.sub(r"\[([^\]]+)\]\[[^\]]*\]", r"\1", text)
        text = re.sub(r"^\[[^\]]+\]:.*$", "", text, flags=re.M)          # link targets
        text = re.sub(r"<[^>\n]+>", "", text)                            # inline html
        text = re.sub(r"^#+\s*", "", text, flags=re.M)
        text = text.replace("`", "").replace("**", "")
    if path.endswith((".rst", ".rst.gz")):
        text = re.sub(r"^\.\. .*$", "", text, flags=re.M)
        text = re.sub(r"^[=\-~^*#]{3,}\s*$", "", text, flags=re.M)
        text = re.sub(r":\w+:`([^`]*)`", r"\1", text).replace("``", "")
    return clean_document(paragraphs_from_lines(text.split("\n"), join_wrapped=True))


def pod_text(path: str) -> str:
    try:
        p = subprocess.run(["pod2text", "-w", "2000", path], capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        return ""
    text = normalize(p.stdout.decode("utf-8", errors="replace"))
    lines = [ln for ln in text.split("\n")]
    return clean_document(paragraphs_from_lines(lines, join_wrapped=False))


def python_docstrings(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
        return ""
    docs = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            d = ast.get_docstring(node)
            if d and len(d) >= 80:
                lines = [ln for ln in d.split("\n") if not ln.lstrip().startswith(">>>")]
                docs.append(clean_document(paragraphs_from_lines(lines, join_wrapped=True)))
    return "\n\n".join(d for d in docs if d)


DOC_NAME_RE = re.compile(r"^(README|NEWS|FAQ|TODO|HACKING|USAGE|THANKS|BUGS|INSTALL)([._-].*)?$|"
                         r"\.(txt|md|rst|markdown)(\.gz)?$", re.I)
DOC_SKIP_RE = re.compile(r"changelog|copyright|licen[cs]e|copying|\.html|\.json|authors|"
                         r"unicover|langcover|^status\.txt", re.I)


def collect_sources(owners: dict[str, str]) -> list[tuple[str, str, str]]:
    """(kind, package, path), sorted, for every candidate file."""
    out = []
    for path in sorted(glob.glob("/usr/share/man/man[1-8]/*")):
        real = os.path.realpath(path)
        if os.path.islink(path) or not os.path.isfile(real):
            continue
        pkg = owners.get(path)
        if pkg and pkg not in EXCLUDED_PACKAGES:
            out.append(("man", pkg, path))
    for path in sorted(glob.glob("/usr/share/doc/**/*", recursive=True)):
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        name = os.path.basename(path)
        if not DOC_NAME_RE.search(name) or DOC_SKIP_RE.search(name):
            continue
        if os.path.getsize(path) > 2_000_000:
            continue
        pkg = owners.get(path) or path.split("/")[4]
        if pkg not in EXCLUDED_PACKAGES:
            out.append(("doc", pkg, path))
    for path in sorted(glob.glob("/usr/lib/python3.11/**/*.py", recursive=True)):
        if re.search(r"/(test|tests|idle_test|site-packages|dist-packages)/", path):
            continue
        pkg = owners.get(path)
        if pkg:
            out.append(("python", pkg, path))
    perl_roots = ["/usr/share/perl/5.36", "/usr/lib/x86_64-linux-gnu/perl/5.36", "/usr/share/perl5",
                  "/usr/lib/x86_64-linux-gnu/perl5/5.36", "/usr/lib/x86_64-linux-gnu/perl-base",
                  "/usr/share/perl/5.36.0"]
    seen = set()
    for root in perl_roots:
        for path in sorted(glob.glob(root + "/**/*.p[mo]*", recursive=True)):
            real = os.path.realpath(path)
            if real in seen or not path.endswith((".pm", ".pod")) or not os.path.isfile(real):
                continue
            seen.add(real)
            pkg = owners.get(path) or owners.get(real)
            if pkg:
                out.append(("pod", pkg, path))
    return out


def extract(item):
    kind, pkg, path = item
    if kind == "man":
        text = render_man(path)
    elif kind == "doc":
        text = read_text_file(path)
    elif kind == "python":
        text = python_docstrings(path)
    else:
        try:
            with open(path, "rb") as f:
                has_pod = re.search(rb"^=(head1|pod|item)", f.read(), re.M) is not None
        except OSError:
            has_pod = False
        text = pod_text(path) if has_pod else ""
    return kind, pkg, path, text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for train.txt (keep out of git)")
    ap.add_argument("--heldout", required=True, help="held-out text file (committed)")
    ap.add_argument("--data-md", required=True, help="DATA.md to write")
    ap.add_argument("--heldout-bytes", type=int, default=200_000)
    ap.add_argument("--max-train-bytes", type=int, default=30_000_000)
    ap.add_argument("--max-package-bytes", type=int, default=1_500_000)
    ap.add_argument("--reuse", action="store_true", help="reuse OUT/extracted.json.gz")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()

    owners = file_owners()
    items = collect_sources(owners)
    licences = {}
    for _, pkg, _ in items:
        if pkg not in licences:
            licences[pkg] = package_licences(pkg)
    items = [it for it in items if licences[it[1]]]
    print(f"{len(items)} source files from {len({p for _, p, _ in items})} packages", file=sys.stderr)

    cache = os.path.join(args.out, "extracted.json.gz")
    if args.reuse and os.path.exists(cache):
        with gzip.open(cache, "rt", encoding="utf-8") as f:
            done = {tuple(d[:3]): d[3] for d in json.load(f)}
    else:
        done = {}
    todo = [it for it in items if it not in done]
    with multiprocessing.Pool(args.jobs) as pool:
        for kind, pkg, path, text in pool.imap(extract, todo, chunksize=16):
            done[(kind, pkg, path)] = text
    os.makedirs(args.out, exist_ok=True)
    with gzip.open(cache, "wt", encoding="utf-8") as f:
        json.dump([[*k, v] for k, v in done.items()], f)
    docs = [(*it, done[it]) for it in items]

    # Clean and dedup in the fixed order of collect_sources.
    seen_pars = set()
    cleaned = []
    for kind, pkg, path, text in docs:
        if not text:
            continue
        kept = []
        for par in text.split("\n"):
            key = re.sub(r"\W+", " ", par.lower()).strip()
            if len(key) >= 40:
                if key in seen_pars:
                    continue
                seen_pars.add(key)
            kept.append(par)
        doc = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
        if len(doc) >= 200:
            h = hashlib.sha1(path.encode()).hexdigest()
            cleaned.append((h, kind, pkg, path, doc, len(doc.encode("utf-8"))))

    # Held-out: bucket 0 of 100. Train: at most --max-package-bytes per package and
    # --max-train-bytes in all, taking documents in SHA-1 order (a deterministic sample).
    train, heldout = [], []
    heldout_bytes = train_bytes = 0
    per_pkg = collections.Counter()
    stats = collections.defaultdict(lambda: collections.Counter())
    for h, kind, pkg, path, doc, nbytes in sorted(cleaned):
        if int(h, 16) % 100 == 0:
            if heldout_bytes + nbytes <= args.heldout_bytes:
                heldout.append(doc)
                heldout_bytes += nbytes + len(DOC_SEP)
                stats[pkg]["heldout"] += nbytes
            continue        # held-out bucket docs beyond the budget are not trained on either
        if per_pkg[pkg] + nbytes > args.max_package_bytes:
            continue
        if train_bytes + nbytes > args.max_train_bytes:
            continue
        per_pkg[pkg] += nbytes
        train.append(doc)
        train_bytes += nbytes + len(DOC_SEP)
        stats[pkg][kind] += nbytes

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "train.txt"), "w", encoding="utf-8") as f:
        f.write(DOC_SEP.join(train) + "\n")
    os.makedirs(os.path.dirname(os.path.abspath(args.heldout)), exist_ok=True)
    with open(args.heldout, "w", encoding="utf-8") as f:
        f.write(DOC_SEP.join(heldout) + "\n")
    with open(os.path.join(args.out, "stats.json"), "w") as f:
        json.dump({p: dict(c) for p, c in stats.items()}, f, indent=1, sort_keys=True)
    write_data_md(args.data_md, stats, licences, len(train), train_bytes, len(heldout),
                  heldout_bytes)
    print(f"train: {len(train)} docs, {train_bytes} bytes; held-out: {len(heldout)} docs, "
          f"{heldout_bytes} bytes", file=sys.stderr)


def write_data_md(path, stats, licences, n_train, train_bytes, n_held, held_bytes):
    kinds = ["man", "doc", "python", "pod"]
    totals = collections.Counter()
    for c in stats.values():
        totals.update(c)
    rows = sorted(stats.items(), key=lambda kv: -sum(kv[1].values()))
    lines = [
        "# Training data of the default model",
        "",
        "Made by `training/prepare_corpus.py` (see training/README.md for the command) from the",
        "documentation of the Debian 12 packages installed on the build machine. Nothing was",
        "downloaded. Sources: manual pages rendered with groff (`man`), plain-text / Markdown /",
        "reStructuredText files under /usr/share/doc (`doc`), docstrings of the Python 3.11 standard",
        "library (`python`), and Perl POD rendered with pod2text (`pod`).",
        "",
        "A file is used only when dpkg names its package and the package's",
        "`/usr/share/doc/<package>/copyright` names a free licence; the licence column lists the",
        "licence families found there (a package's files may be under several). The corpus itself",
        "is not committed (it is rebuilt by the script); the held-out slice is `models/heldout.txt`.",
        "Repeated paragraphs (40+ characters, case and punctuation folded) are kept once; each",
        "package contributes at most 1.5 MB, and documents are taken in SHA-1 order up to 30 MB.",
        "Excluded: google-cloud-cli (not a Debian archive package; 16k generated pages).",
        "",
        f"- train: {n_train} documents, {train_bytes / 1e6:.2f} MB of UTF-8 text",
        f"- held-out: {n_held} documents, {held_bytes / 1e3:.1f} kB (SHA-1 of the source path in "
        "bucket 0 of 100)",
        "- by source (train bytes): " + ", ".join(f"{k} {totals[k] / 1e6:.2f} MB" for k in kinds),
        "",
        "| package | licences (from its copyright file) | man | doc | python | pod | held-out |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for pkg, c in rows:
        cells = [str(c[k]) if c[k] else "" for k in kinds + ["heldout"]]
        lines.append(f"| {pkg} | {', '.join(licences[pkg])} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Sizes are bytes of cleaned text.")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
