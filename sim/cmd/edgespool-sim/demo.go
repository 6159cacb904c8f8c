package main

import (
	"context"
	"fmt"
	"io"
)

func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return fmt.Errorf("demo: waiting for the agent's library entry point")
}
