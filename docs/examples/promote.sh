#!/usr/bin/env bash
# Release steps for CI/CD with the aioversioned CLI.
#
#   promote.sh publish  NAME FILE       upload a build, freeze it, point staging at it
#   promote.sh canary   NAME VERSION N  send N % of prod's picks to VERSION
#   promote.sh promote  NAME VERSION    send all of prod to VERSION
#   promote.sh rollback NAME            prod back to its last target without a canary (again: further)
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
prod = [a for a in json.load(sys.stdin) if a["alias"] == "prod"]
print(*(prod[0]["version"], prod[0]["revision"]) if prod else ())')
    if [ -z "$prod" ]; then
        echo "$name has no prod alias yet; promote a version first" >&2
        exit 1
    fi
    read -r current revision <<<"$prod"
    aioversioned alias set "$name" prod "$current" --canary "$version" --weight "$percent" \
        --expect-revision "$revision"
    ;;
promote)
    aioversioned alias set "$name" prod "${3:?version missing}"
    ;;
rollback)
    # Back to prod's last target without a canary (a whole canary or rollout undone in
    # one call); run again to go further back.
    aioversioned alias rollback "$name" prod
    ;;
*)
    echo "unknown step: $step" >&2
    exit 2
    ;;
esac
