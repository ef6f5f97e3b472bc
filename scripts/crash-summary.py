#!/usr/bin/env python3
"""Prints the crashed thread's stack from .NET crash reports (createdump's *.crashreport.json), one frame a line:
the managed method, or the native module, its symbol where createdump found one, and the offset into the module, so
that a crash on CI can be read from its log."""
import json
import sys


def frames(entries):
    for frame in entries:
        if "repeated_frames" in frame:  # a run of frames createdump folded: print it once
            yield from frames(frame["repeated_frames"])
        else:
            yield frame


def describe(frame):
    if frame.get("method_name"):
        return f"{frame.get('filename', '?')}  {frame['method_name']}"
    module = frame.get("native_module") or frame.get("filename") or "?"
    try:
        offset = hex(int(frame["native_address"], 16) - int(frame["module_address"], 16))
    except (KeyError, ValueError):
        offset = frame.get("native_address", "?")
    symbol = f" {frame['unmanaged_name']}" if frame.get("unmanaged_name") else ""
    return f"{module}+{offset}{symbol}"


for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as f:
            threads = json.load(f)["payload"]["threads"]
    except (OSError, ValueError, KeyError) as e:
        print(f"{path}: unreadable ({e})")
        continue
    for thread in threads:
        if str(thread.get("crashed")).lower() != "true":
            continue
        print(f"{path}: crashed thread {thread.get('native_thread_id', '?')}")
        for frame in list(frames(thread.get("stack_frames", [])))[:30]:
            print(f"  {describe(frame)}")
