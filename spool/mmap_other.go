//go:build !linux

package spool

// mmapFlags is empty where MAP_POPULATE does not exist.
const mmapFlags = 0
