// Command thingd connects an embedded Linux board to AWS IoT Core and keeps it connected.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "thingd: not implemented yet")
	os.Exit(1)
}
