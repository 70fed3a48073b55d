package queue

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"thingd/internal/atomicfile"
)

// lossesFileName holds the number of records lost to corruption before this Open, so that
// a loss stays visible in the status after a restart, not only in one journal line.
const lossesFileName = "losses"

func (q *Queue) loadLosses() {
	b, err := os.ReadFile(filepath.Join(q.dir, lossesFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	n, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || perr != nil {
		q.log.Warn("queue: cannot read the count of earlier losses; counting from 0",
			zap.String("file", filepath.Join(q.dir, lossesFileName)), zap.Error(errors.Join(err, perr)))
		return
	}
	q.lostBefore = n
}

// saveLossesLocked writes the total when it changed since the last save.
func (q *Queue) saveLossesLocked() {
	total := q.lostBefore + q.corrupt
	if total == q.lossesSaved {
		return
	}
	path := filepath.Join(q.dir, lossesFileName)
	if err := atomicfile.Write(path, []byte(strconv.FormatUint(total, 10)+"\n"), 0o640); err != nil {
		q.log.Warn("queue: could not save the count of lost messages", zap.String("file", path), zap.Error(err))
		return
	}
	q.lossesSaved = total
}
