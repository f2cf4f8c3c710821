package cluster

import (
	"context"
	"fmt"
	"log/slog"
)

// Registrar is a peer discoverer that can list this instance among the members it discovers, so that
// instances find each other through it: discovery's serverset and nerve sections are.
type Registrar interface {
	// CheckMember tells whether address can be registered as a member.
	CheckMember(address string) error
	// Register keeps address (host:port) registered as a member until ctx is done, and says what it does
	// on logger. It returns when ctx is done. With digest ("user:password"), the member is that identity's
	// to change and everyone's to read.
	Register(ctx context.Context, address, digest string, logger *slog.Logger)
}

// CheckRegister checks register = true for the peer discoverer (a discovery section, nil when there is
// no valid one) named name, and self.
func CheckRegister(discoverer any, name, self string) error {
	if discoverer == nil {
		return nil // the discoverer has its own error
	}
	r, ok := discoverer.(Registrar)
	if !ok {
		return fmt.Errorf("register: %s cannot register this instance: its discoverer does not keep members", name)
	}
	if err := r.CheckMember(self); err != nil {
		return fmt.Errorf("register: self %q is not the host:port of a member: %w", self, err)
	}
	return nil
}
