// h2spec_main.go - the command line of h2spec for our offline build.
//
// ../shared/thirdparty/h2spec lacks upstream's cmd/h2spec (its .gitignore
// pattern "h2spec" dropped that folder when it was copied), so
// tests/h2/build_h2spec.sh puts this small main there: the flags our
// tests use, mapped onto h2spec's config.Config, then h2spec.Run.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/summerwind/h2spec"
	"github.com/summerwind/h2spec/config"
)

func main() {
	c := &config.Config{}
	var timeout int
	flag.StringVar(&c.Host, "h", "127.0.0.1", "target host")
	flag.IntVar(&c.Port, "p", 0, "target port")
	flag.StringVar(&c.Path, "P", "/", "target path")
	flag.IntVar(&timeout, "o", 2, "seconds to wait for each answer")
	flag.IntVar(&c.MaxHeaderLen, "max-header-length", 4000, "longest header value sent")
	flag.StringVar(&c.JUnitReport, "j", "", "JUnit report file")
	flag.BoolVar(&c.Strict, "S", false, "strict mode")
	flag.BoolVar(&c.TLS, "t", false, "TLS")
	flag.BoolVar(&c.Insecure, "k", false, "do not verify the certificate")
	flag.BoolVar(&c.Verbose, "v", false, "verbose")
	flag.Parse()
	c.Timeout = time.Duration(timeout) * time.Second
	c.Sections = flag.Args()
	ok, err := h2spec.Run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}
