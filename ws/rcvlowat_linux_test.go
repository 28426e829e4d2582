package ws

import "testing"

func TestKernelAtLeast(t *testing.T) {
	for _, tc := range []struct {
		release string
		want    bool
	}{
		{"6.18.44-fc-v669", true},
		{"4.18.0-553.el8.x86_64", true},
		{"4.17.19", false},
		{"4.9.337", false},
		{"3.10.0-1160.el7.x86_64", false},
		{"5.4", true},
		{"10.1.0", true},
		{"4", false},
		{"", false},
	} {
		if got := kernelAtLeast(tc.release, 4, 18); got != tc.want {
			t.Errorf("kernelAtLeast(%q, 4, 18) = %v, want %v", tc.release, got, tc.want)
		}
	}
}
