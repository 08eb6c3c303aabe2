package main

import (
	"context"
	"log/slog"

	"gatehouse/storage"
	"gatehouse/storage/postgres"
)

func init() {
	openPostgres = func(url string, maxConns int, log *slog.Logger) (storage.Store, error) {
		// Open bounds its own connect and migration waits (postgres.Options).
		s, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: maxConns, Logger: log})
		if err != nil {
			return nil, err // not a typed nil inside the interface
		}
		return s, nil
	}
}
