package speaker_test

import (
	"fmt"

	"github.com/lbkit/lbkit/k8s/speaker"
)

// Status objects have names derived from node and service, so that a
// restarted speaker finds the ones it wrote.
func ExampleStatusName() {
	fmt.Println(speaker.StatusName("l2-", "node-a", "default/web"))
	fmt.Println(speaker.StatusName("bgp-", "node-a", "default/web"))
	// Output:
	// l2-bb2ec9ca268e5dc8
	// bgp-bb2ec9ca268e5dc8
}
