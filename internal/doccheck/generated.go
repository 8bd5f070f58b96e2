package doccheck

import (
	"fmt"
	"strings"
)

// Generated text sits in a document between two marker lines:
//
//	<!-- BEGIN name: how to regenerate -->
//	...
//	<!-- END name -->

// Generated returns the text between the markers of name.
func Generated(doc, name string) (string, error) {
	_, body, _, err := cut(doc, name)
	return body, err
}

// Replace returns doc with the text between the markers of name replaced.
func Replace(doc, name, body string) (string, error) {
	before, _, after, err := cut(doc, name)
	if err != nil {
		return "", err
	}
	return before + body + after, nil
}

func cut(doc, name string) (before, body, after string, err error) {
	begin := "<!-- BEGIN " + name
	i := strings.Index(doc, begin)
	if i < 0 {
		return "", "", "", fmt.Errorf("no %q marker", begin+" ... -->")
	}
	j := strings.Index(doc[i:], "-->\n")
	if j < 0 {
		return "", "", "", fmt.Errorf("marker %q is not closed", begin)
	}
	start := i + j + len("-->\n")
	end := strings.Index(doc[start:], "<!-- END "+name+" -->")
	if end < 0 {
		return "", "", "", fmt.Errorf("no <!-- END %s --> marker", name)
	}
	return doc[:start], doc[start : start+end], doc[start+end:], nil
}
