package dates_test

import (
	"fmt"
	"time"

	"github.com/pinjail/pinjail/internal/dates"
)

func ExampleDetector_Find() {
	// The datepattern of pinjail's pexiprp filter.
	d, err := dates.New("%d/%b/%Y:%H:%M:%S %z", nil)
	if err != nil {
		panic(err)
	}
	line := []byte(`198.51.100.23 - - [14/May/2024:09:20:02 +0200]  "POST /api/client/v2/conferences/x/request_token HTTP/1.1" 403`)
	var m dates.Match
	if !d.Find(line, time.Now(), &m) {
		return
	}
	fmt.Println(m.Time.UTC())
	fmt.Printf("%s\n", line[m.Start:m.End])
	fmt.Printf("%s%s\n", line[:m.Start], line[m.End:])
	fmt.Println(d.TemplateName(m.Template))
	// Output:
	// 2024-05-14 07:20:02 +0000 UTC
	// 14/May/2024:09:20:02 +0200
	// 198.51.100.23 - - []  "POST /api/client/v2/conferences/x/request_token HTTP/1.1" 403
	// Day/MON/Year:24hour:Minute:Second Zone offset
}
