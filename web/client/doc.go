// Package client talks to a running gatehouse server's admin API over its
// Unix socket (operator rights), or over TCP with an admin token. The CLI and the
// terminal console use it when a server owns the database.
package client
