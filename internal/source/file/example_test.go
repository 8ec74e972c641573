package file_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/pinjail/pinjail/internal/source"
	"github.com/pinjail/pinjail/internal/source/file"
)

func ExampleFollower() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "api.access.log")
	if err := os.WriteFile(path, []byte("first line\nsecond line\nincomplete"), 0o644); err != nil {
		log.Fatal(err)
	}

	fl, err := file.New([]file.Path{{Pattern: filepath.Join(dir, "*.access.log")}}, file.Options{})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	fl.Run(ctx, func(batch []source.Line) {
		for _, l := range batch {
			fmt.Printf("%s (up to byte %d)\n", l.Text, l.Offset)
		}
		stop()
	})
	// Saved and passed as Options.Start, the positions resume after the
	// last complete line.
	fmt.Println(fl.Positions()[0].Offset)
	// Output:
	// first line (up to byte 11)
	// second line (up to byte 23)
	// 23
}
