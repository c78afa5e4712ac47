#!/usr/bin/python3
"""Make a .torrent with libtorrent's create_torrent, for internal/thirdparty.

Usage: ltcreate.py CONFIG.json   (prints the bencoded .torrent on stdout)
Config: {"path": file or directory, "piece_length": N, "v1_only": bool, "trackers": [url, ...]}
"""

import json
import os
import sys

import libtorrent as lt


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    path = os.path.abspath(cfg["path"])
    fs = lt.file_storage()
    lt.add_files(fs, path)
    if fs.num_files() == 0:
        sys.exit("no files under %s" % path)
    flags = lt.create_torrent.v1_only if cfg.get("v1_only") else 0
    ct = lt.create_torrent(fs, cfg["piece_length"], flags=flags)
    # One tracker per tier, in the order given.
    for tier, url in enumerate(cfg.get("trackers") or []):
        ct.add_tracker(url, tier)
    ct.set_creator("btt internal/thirdparty")
    lt.set_piece_hashes(ct, os.path.dirname(path))
    sys.stdout.buffer.write(lt.bencode(ct.generate()))


if __name__ == "__main__":
    main()
