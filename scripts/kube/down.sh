#!/bin/bash
# Stop what up.sh started in WORKDIR (SIGTERM, then SIGKILL after 10 s). Usage: down.sh WORKDIR
W=$1; pids=()
for n in scheduler kcm apiserver etcd; do
  if [ -f $W/$n.pid ]; then p=$(cat $W/$n.pid); kill $p 2>/dev/null && pids+=($p); rm -f $W/$n.pid; fi
done
for i in $(seq 1 100); do
  alive=(); for p in "${pids[@]}"; do kill -0 $p 2>/dev/null && [ "$(ps -o stat= -p $p 2>/dev/null | cut -c1)" != Z ] && alive+=($p); done
  [ ${#alive[@]} -eq 0 ] && exit 0; sleep 0.1
done
kill -9 "${alive[@]}" 2>/dev/null; true
