#!/usr/bin/env python3
"""Prints the crashed thread's stack from .NET crash reports (createdump's *.crashreport.json), one frame a line:
the managed method, or the native module and offset, so that a crash on CI can be read from its log."""
import json
import sys

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
        for frame in thread.get("stack_frames", [])[:30]:
            if frame.get("method_name"):
                print(f"  {frame.get('filename', '?')}  {frame['method_name']}")
            else:
                print(f"  {frame.get('native_module', '?')}+{frame.get('native_image_offset', frame.get('native_address', '?'))}")
