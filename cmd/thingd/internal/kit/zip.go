package kit

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// readZip returns the content of every regular file in the zip, keyed by its cleaned
// slash-separated name. Nothing in the zip is trusted: names, modes and sizes are
// checked, and sizes are enforced while reading rather than taken from the headers.
func readZip(r io.ReaderAt, size int64) (map[string][]byte, error) {
	if size > MaxZipSize {
		return nil, fmt.Errorf("%w: the zip is %d bytes, over the %d a connect kit could need", ErrUnsafe, size, MaxZipSize)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !(errors.Is(err, zip.ErrInsecurePath) && zr != nil) {
		// ErrInsecurePath still returns a reader; our own checks below name the entry.
		return nil, fmt.Errorf("%w: not a zip file (%v): download the kit again from the AWS IoT console", ErrNotKit, err)
	}
	if len(zr.File) > MaxEntries {
		return nil, fmt.Errorf("%w: the zip has %d entries, over the %d a connect kit could need", ErrUnsafe, len(zr.File), MaxEntries)
	}
	files := make(map[string][]byte)
	var total int64
	for _, f := range zr.File {
		name, err := entryName(f)
		if err != nil {
			return nil, err
		}
		if name == "" {
			continue // a folder
		}
		if _, dup := files[name]; dup {
			return nil, fmt.Errorf("%w: entry %q appears twice, so which copy counts would be a guess", ErrUnsafe, f.Name)
		}
		if f.UncompressedSize64 > MaxEntrySize {
			return nil, tooBig(f.Name)
		}
		data, err := readEntry(f)
		if err != nil {
			return nil, err
		}
		if total += int64(len(data)); total > MaxTotalSize {
			return nil, fmt.Errorf("%w: the zip's files add up to over %d bytes uncompressed; a connect kit holds a few KiB", ErrUnsafe, MaxTotalSize)
		}
		files[name] = data
	}
	return files, nil
}

// entryName checks an entry's name and type and returns its cleaned name, or "" for
// a folder. Backslashes count as separators, as some Windows tools write them.
func entryName(f *zip.File) (string, error) {
	name := strings.ReplaceAll(f.Name, `\`, "/")
	unsafe := func(why string) error {
		return fmt.Errorf("%w: entry %q %s; refusing the whole zip", ErrUnsafe, f.Name, why)
	}
	switch {
	case name == "" || strings.ContainsRune(name, 0):
		return "", unsafe("has an empty or invalid name")
	case strings.HasPrefix(name, "/") || (len(name) >= 2 && name[1] == ':'):
		return "", unsafe("has an absolute path")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", unsafe("escapes the kit's folder with ..")
		}
	}
	mode := f.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		return "", unsafe("is a symbolic link (a kit holds plain files)")
	case mode.IsDir() || strings.HasSuffix(name, "/"):
		return "", nil
	case !mode.IsRegular():
		return "", unsafe(fmt.Sprintf("is not a plain file (mode %v)", mode))
	}
	return path.Clean(name), nil
}

func readEntry(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: read entry %q: %v", ErrNotKit, f.Name, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(rc, MaxEntrySize+1)); err != nil {
		return nil, fmt.Errorf("%w: read entry %q: %v (a damaged download?)", ErrNotKit, f.Name, err)
	}
	if buf.Len() > MaxEntrySize {
		return nil, tooBig(f.Name)
	}
	return buf.Bytes(), nil
}

func tooBig(name string) error {
	return fmt.Errorf("%w: entry %q is over %d bytes uncompressed; a connect kit's files are a few KiB", ErrUnsafe, name, MaxEntrySize)
}
