"""Push waits for cloud-init to finish the first boot before it copies anything, so its files
never race what the user-data installs (see the ``ready`` hook in bootstrap.render.hooks)."""

from __future__ import annotations

from bootstrap.render.hooks import Ready, ReadyHost

# Exit 127: no cloud-init; 124: not done in time; else cloud-init's own exit status. The last
# line is what ``cloud-init status`` says. cloud-init before 23.4 stops waiting at the first
# error while the boot goes on, so an error counts only once the final stage has written
# result.json (it does so even after errors).
WAIT = r"""
command -v cloud-init >/dev/null 2>&1 || exit 127
deadline=$(( $(date +%s) + $1 ))
while :; do
  left=$(( deadline - $(date +%s) ))
  if [ "$left" -le 0 ]; then rc=124; break; fi
  timeout "$left" cloud-init status --wait >/dev/null 2>&1
  rc=$?
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 0 ] || [ -e /run/cloud-init/result.json ]; then break; fi
  sleep 1
done
cloud-init status 2>&1 | tail -n 1
exit "$rc"
"""


def wait(host: ReadyHost) -> Ready:
    """Wait until cloud-init is done (or the host's timeout is up) and say how it ended."""
    seconds = max(1, int(host.timeout))
    outcome = host.run(WAIT, [str(seconds)], timeout=host.timeout + 30)
    status = (outcome.output.strip().splitlines()[-1:] or [""])[0].strip()
    if outcome.rc == 127:
        return Ready(notes=("cloud-init is not installed: did not wait for it",))
    if outcome.rc == 124:
        return Ready(failure=f"cloud-init has not finished after {seconds} s ({status})")
    if outcome.rc == 2:
        return Ready(notes=(f"cloud-init finished with recoverable errors ({status})",))
    if outcome.rc != 0:
        # The files may be what repairs the host, so push goes on and says so.
        return Ready(notes=(f"cloud-init reported an error (exit {outcome.rc}: {status}); "
                            "see /var/log/cloud-init-output.log on the host",))
    return Ready()
