#!/usr/bin/env bash
# Release steps for CI/CD with the aioversioned CLI.
#
#   promote.sh publish  NAME FILE       upload a build, freeze it, point staging at it
#   promote.sh canary   NAME VERSION N  send N % of prod's picks to VERSION
#   promote.sh promote  NAME VERSION    send all of prod to VERSION
#   promote.sh rollback NAME            undo the last change of prod
#
# Configuration comes from the environment: AIOVERSIONED_BUCKET (and AIOVERSIONED_PREFIX),
# AWS credentials and region as usual, and AWS_ENDPOINT_URL for a server other than AWS.
set -euo pipefail

step=${1:?usage: promote.sh publish|canary|promote|rollback NAME ...}
name=${2:?artifact name missing}

case "$step" in
publish)
    aioversioned put "$name" "${3:?file missing}" --meta commit="${GIT_COMMIT:-unknown}" -q >/dev/null
    version=$(aioversioned publish "$name" -q)
    aioversioned alias set "$name" staging "$version" -q >/dev/null
    echo "$version"
    ;;
canary)
    version=${3:?version missing}
    percent=${4:?percent missing}
    # Read prod once and write it back only if nobody moved it in between.
    prod=$(aioversioned alias ls "$name" --json | python3 -c '
import json, sys
prod = next(a for a in json.load(sys.stdin) if a["alias"] == "prod")
print(prod["version"], prod["revision"])')
    read -r current revision <<<"$prod"
    aioversioned alias set "$name" prod "$current" --canary "$version" --weight "$percent" \
        --expect-revision "$revision"
    ;;
promote)
    aioversioned alias set "$name" prod "${3:?version missing}"
    ;;
rollback)
    # The newest recorded change of prod says what it pointed at before.
    read -r previous canary weight <<<"$(aioversioned alias history "$name" prod --limit 1 --json |
        python3 -c '
import json, sys
change = json.load(sys.stdin)[0]
print(change["previous_version"] or "-", change["previous_secondary_version"] or "-",
      change["previous_secondary_version_weight"] or 0)')"
    if [ "$previous" = "-" ]; then
        echo "prod did not exist before its last change; nothing to roll back to" >&2
        exit 1
    elif [ "$canary" = "-" ]; then
        aioversioned alias set "$name" prod "$previous"
    else
        aioversioned alias set "$name" prod "$previous" --canary "$canary" --weight "$weight"
    fi
    ;;
*)
    echo "unknown step: $step" >&2
    exit 2
    ;;
esac
