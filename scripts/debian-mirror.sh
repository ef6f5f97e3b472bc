# Sourced by the scripts that fetch Debian packages (install-prerequisites.sh, pytorch-peer.sh): where this machine
# already gets Debian from, so that nothing names a mirror of its own.
#
# debian_mirror SUITE...: prints the first URI of an enabled apt source (deb822 *.sources, then the one-line
# sources.list format) that serves the main component of one of SUITEs; nothing when there is none. Never fails.
debian_mirror() {
  local suites=" $* " f
  {
    # deb822 files: one stanza per blank-line-separated block; disabled stanzas are skipped.
    for f in /etc/apt/sources.list.d/*.sources; do
      if [[ -r "$f" && "$f" != */cifar-trixie.sources ]]; then cat "$f"; echo; fi
    done | awk -v wanted="$suites" 'BEGIN { RS = ""; FS = "\n" }
      {
        uri = ""; suites = ""; comps = ""; enabled = 1
        for (i = 1; i <= NF; i++) {
          line = $i; sub(/^[ \t]+/, "", line)
          if (line ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", line); split(line, a, /[ \t]+/); uri = a[1] }
          if (line ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", line); suites = line }
          if (line ~ /^Components:/) comps = " " line " "
          if (line ~ /^Enabled:[ \t]*(no|false)/) enabled = 0
        }
        n = split(suites, s, /[ \t]+/); served = 0
        for (i = 1; i <= n; i++) if (s[i] != "" && index(wanted, " " s[i] " ")) served = 1
        if (enabled && uri != "" && served && comps ~ /[ \t]main[ \t]/) print uri
      }'
    # One-line format: deb [options] URI SUITE COMPONENTS...
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      if [[ -r "$f" ]]; then cat "$f"; fi
    done | sed -E 's/\[[^]]*\]//' | awk -v wanted="$suites" '$1 == "deb" && index(wanted, " " $3 " ") && / main( |$)/ { print $2 }'
  } | awk 'NR == 1' || true
}
