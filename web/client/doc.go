// Package client talks to a running gatehouse server's admin API over its
// Unix socket (operator rights). The CLI's backup and rekey commands and the
// terminal console use it when a server owns the database.
package client
