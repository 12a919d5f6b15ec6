#!/bin/sh
# Runs before `npm test` (the pretest script): the status page's browser test drives Debian's
# Chromium (/usr/bin/chromium) through playwright-core, and a fresh machine of this kind does
# not have it. Installs it when it is missing and this user may (root with apt-get); otherwise
# says what to do, and the other tests still run.
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "pretest: installing Debian's chromium for the status page's browser test" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) && exit 0
fi
echo "pretest: /usr/bin/chromium is missing and could not be installed; run 'apt-get install chromium' as root, or test/status-page.test.ts fails" >&2
exit 0
