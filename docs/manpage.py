#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""manpage.py - tunplug(8) from docs/tunplug.8.in and the binary's own text.

  manpage.py TUNPLUG TEMPLATE OUT

The page's prose (NAME, DESCRIPTION, EXIT STATUS, FILES, EXAMPLES, ...) is
written by hand in TEMPLATE; its option list and signals are `TUNPLUG
--help`, turned into groff, so the page lists exactly the options the
program has, with the same words:
  @VERSION@  the version `TUNPLUG --version` prints
  @OPTIONS@  one .SS per section of --help ("Flows:"), one .TP per option
             ("  --name ARG   text", continuation lines indented)
  @SIGNALS@  the paragraph after the last section ("Signals: ...")
Standard library only; exits 1 with the reason when --help does not have
that shape.
"""
import re
import subprocess
import sys


def esc(text):
    """Plain text -> groff text: backslashes, hyphens, leading dots."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return text


def line(text):
    text = esc(text)
    return "\\&" + text if text[:1] in (".", "'") else text


def spec(s):
    """'-c, --config FILE' -> bold option names, italic arguments."""
    out = []
    for tok in s.split():
        if tok.startswith("-"):
            comma = tok.endswith(",")
            out.append("\\fB%s\\fR%s" % (esc(tok.rstrip(",")), "," if comma else ""))
        else:
            out.append("\\fI%s\\fR" % esc(tok))
    return " ".join(out)


OPT = re.compile(r"^  (-\S.*?)(?:\s{2,}(\S.*))?$")
SECTION = re.compile(r"^(\S[^:]*):$")


def parse(help_text):
    """[(section, [(spec, text)])], trailing paragraph."""
    sections = []
    tail = []
    cur = None
    for raw in help_text.splitlines():
        if tail:
            tail.append(raw.strip())
            continue
        m = SECTION.match(raw)
        if m:
            sections.append((m.group(1), []))
            continue
        if not sections:
            continue  # usage and summary: the template has its own
        m = OPT.match(raw)
        if m:
            cur = [m.group(1).strip(), m.group(2) or ""]
            sections[-1][1].append(cur)
        elif raw.startswith("    ") and cur is not None:
            cur[1] = (cur[1] + " " + raw.strip()).strip()
        elif raw.strip() == "":
            cur = None
        else:
            tail.append(raw.strip())
    return sections, " ".join(t for t in tail if t)


def render_options(sections):
    # ragged right: rule syntax and long words justify badly
    out = [".ad l"]
    for name, opts in sections:
        if not opts:
            continue
        out.append(".SS %s" % esc(name))
        for sp, text in opts:
            out.append(".TP")
            out.append(spec(sp))
            out.append(line(text))
    out.append(".ad b")
    return "\n".join(out)


def main():
    if len(sys.argv) != 4:
        sys.stderr.write("usage: manpage.py TUNPLUG TEMPLATE OUT\n")
        return 2
    binary, template, dest = sys.argv[1:]
    help_text = subprocess.run([binary, "--help"], capture_output=True, text=True,
                               check=True, timeout=10).stdout
    version = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             check=True, timeout=10).stdout.split()
    if len(version) < 2 or version[0] != "tunplug":
        sys.stderr.write("manpage.py: unexpected --version output: %s\n" % " ".join(version))
        return 1
    sections, signals = parse(help_text)
    n = sum(len(o) for _, o in sections)
    if n < 10 or not signals:
        sys.stderr.write("manpage.py: --help has %d options and signals %r: not the expected "
                         "shape\n" % (n, signals))
        return 1
    with open(template) as f:
        page = f.read()
    for key in ("@VERSION@", "@OPTIONS@", "@SIGNALS@"):
        if key not in page:
            sys.stderr.write("manpage.py: %s has no %s\n" % (template, key))
            return 1
    signals = re.sub(r"^Signals:\s*", "", signals)
    page = (page.replace("@VERSION@", version[1])
            .replace("@OPTIONS@", render_options(sections))
            .replace("@SIGNALS@", line(signals[:1].upper() + signals[1:])))
    with open(dest, "w") as f:
        f.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
