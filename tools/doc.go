// Package tools holds the logic of Hive's command-line tools, so that
// cmd/hive only parses flags and calls in: [Tap] (`hive tap`), [ClientREPL]
// (`hive client`) and [Bench] (`hive bench`).
package tools
