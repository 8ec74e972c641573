// Package e2e tests pinjail end to end with the real components of a Pexip
// reverse proxy: nginx logging the RP's pexapplog format, a conferencing
// node answering request_token's PIN challenge, the pinjail binary banning
// through nftables, and clients whose packets are dropped or let through.
//
// Each test builds two network namespaces joined by a veth pair, a client
// and the proxy, so nothing touches the host's network or firewall. The
// tests need root, ip, nft, nginx and go; they skip without them, and fail
// in CI, where PINJAIL_TEST_STRICT=1.
package e2e
