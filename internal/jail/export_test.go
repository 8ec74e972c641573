package jail

// Parallel reports whether Lines has matched a batch in parallel.
func (j *Jail) Parallel() bool { return j.helper != nil }
