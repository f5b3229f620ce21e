#!/usr/bin/env python3
"""Finds import cycles between source files of a crate: file A names something of file
B (a `use` or an inline `crate::…` path) and B, directly or through others, names A.
A parent's `pub use` of its own children (a facade) is not counted. Prints each cycle
and exits 1 if there is one."""
import os
import re
import sys


def modules(root):
    """Module path (tuple) -> file, for every .rs file under root."""
    found = {}
    for base, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(base, name), root)[:-3].split(os.sep)
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            found[tuple(rel)] = os.path.join(base, name)
    return found


def strip_tests(text):
    """Drops `#[cfg(test)] mod … { … }` blocks: tests may use anything."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def resolve(path, mods):
    """The longest module prefix of `path` that is a file."""
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in mods:
            return tuple(path[:n])
    return ()


def edges(mods):
    graph = {m: set() for m in mods}
    for mod, file in mods.items():
        text = strip_tests(open(file, encoding="utf-8").read())
        # Comments (doc links included) name things without depending on them.
        text = re.sub(r"//[^\n]*", "", text)
        # Collapse `use a::{b, c::{d}}` groups into paths.
        for stmt in re.finditer(r"(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", text):
            is_pub, tree = stmt.group(1), re.sub(r"\s+", "", stmt.group(2))
            for path in expand(tree):
                target = absolute(path, mod, mods)
                if target is None:
                    continue
                if is_pub and target[: len(mod)] == mod and len(target) > len(mod):
                    continue  # a facade re-exporting its own children
                add(graph, mod, target, mods)
        for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", text):
            add(graph, mod, absolute(m.group(1).split("::"), mod, mods), mods)
    return graph


def add(graph, mod, target, mods):
    if target and target != mod and target in mods:
        graph[mod].add(target)


def expand(tree):
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [tree.split("::")]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        if p:
            out += [prefix.rstrip(":").split("::") + e if prefix else e for e in expand(p)]
    return [[s for s in e if s] for e in out]


def absolute(path, mod, mods):
    if not path:
        return None
    if path[0] == "crate":
        return resolve(path[1:], mods)
    if path[0] in ("super", "self"):
        base = list(mod)
        while path and path[0] in ("super", "self"):
            if path[0] == "super":
                base = base[:-1]
            path = path[1:]
        return resolve(base + [p for p in path if p != "self"], mods)
    return None


def cycles(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main():
    failed = False
    for root in sys.argv[1:]:
        mods = modules(root)
        for comp in cycles(edges(mods)):
            failed = True
            names = sorted(mods[m] for m in comp)
            print("import cycle: " + " <-> ".join(names))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
