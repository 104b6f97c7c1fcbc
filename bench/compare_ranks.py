#!/usr/bin/env python3
"""Table of bench/decode JSON results side by side: the first file is the baseline (one process);
each other file gets its tokens/s and the ratio to the baseline for every (test, attention, depth)."""
import json
import sys


def rows(path):
    with open(path) as f:
        j = json.load(f)
    out = {}
    for r in j["rows"]:
        out[(r["test"], r["attention"], r["depth"])] = r
    return j, out


def label(j, rs):
    r = next(iter(rs.values()))
    return f'{r.get("ranks", 1)}x{r["threads"]} tp{r.get("tp", 1)} sp{r.get("sp", 1)}'


def main(paths):
    base_j, base = rows(paths[0])
    others = [rows(p) for p in paths[1:]]
    print(f'cpu: {base_j["cpu"]}')
    head = f'{"test":8} {"attention":9} {"depth":>6} {label(base_j, base):>18}'
    for j, rs in others:
        head += f' {label(j, rs):>18} {"ratio":>6}'
    print(head)
    for key, b in base.items():
        line = f'{key[0]:8} {key[1]:9} {key[2]:>6} {b["tokens_per_s"]:>18.2f}'
        for _, rs in others:
            o = rs.get(key)
            line += f' {o["tokens_per_s"]:>18.2f} {o["tokens_per_s"] / b["tokens_per_s"]:>6.3f}' if o else f' {"-":>18} {"-":>6}'
        print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
