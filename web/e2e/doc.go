// Package e2e holds Gatehouse's end-to-end tests: they build the real
// binary, run `gatehouse serve` on a free port with a throw-away data
// directory, and drive it over HTTP and the admin socket the way a partner
// portal, a browser, a reverse proxy and an administrator would.
//
// Tests that need an outside program (tmux, chromium, nginx) skip when it is
// missing on a developer's machine, and fail instead when CI=true, because
// .ci/run installs them.
package e2e
