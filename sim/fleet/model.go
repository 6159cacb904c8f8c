package fleet

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/edgespool/edgespool/agent/model"
)

// Band is one row of the reference load table: readings drawn while the
// load lies in [MinLoad, MaxLoad]. All ranges are inclusive.
type Band struct {
	MinLoad, MaxLoad   int64
	TempMin, TempMax   int64
	PowerMin, PowerMax int64
	BurnMin, BurnMax   int64
}

// Bands is the load table of the reference simulator. The 1..24 band burns
// 10..50 (the reference meant this; a bug there burnt 0).
var Bands = []Band{
	{MinLoad: 75, MaxLoad: 100, TempMin: 210, TempMax: 300, PowerMin: 2000, PowerMax: 2600, BurnMin: 90, BurnMax: 130},
	{MinLoad: 50, MaxLoad: 74, TempMin: 200, TempMax: 210, PowerMin: 1100, PowerMax: 2000, BurnMin: 75, BurnMax: 90},
	{MinLoad: 25, MaxLoad: 49, TempMin: 190, TempMax: 200, PowerMin: 500, PowerMax: 1100, BurnMin: 50, BurnMax: 75},
	{MinLoad: 1, MaxLoad: 24, TempMin: 170, TempMax: 190, PowerMin: 100, PowerMax: 500, BurnMin: 10, BurnMax: 50},
	{MinLoad: 0, MaxLoad: 0, TempMin: 160, TempMax: 160, PowerMin: 0, PowerMax: 0, BurnMin: 0, BurnMax: 0},
}

// Model constants of the reference simulator.
const (
	MaxLoad                    = 100
	StartFuelMin, StartFuelMax = 900, 1000
	RefillMin, RefillMax       = 500, 1000
)

// BandFor returns the band that holds load (0..100).
func BandFor(load int64) Band {
	for _, b := range Bands {
		if load >= b.MinLoad && load <= b.MaxLoad {
			return b
		}
	}
	return Bands[len(Bands)-1]
}

// Generator is the deterministic model of one emergency generator. It is not
// safe for concurrent use; each simulated device owns one.
type Generator struct {
	ID    string
	Place Place

	rng      *rand.Rand
	fuel     int64
	seq      uint64
	lastTime int64
}

// ID returns the id of the generator with the 1-based index i.
func ID(i int) string { return "generator" + strconv.Itoa(i) }

// NewGenerator returns generator number index (1-based) of the fleet seeded
// with seed. The same (seed, index) always yields the same place and the
// same sequence of readings for the same times.
func NewGenerator(seed uint64, index int) *Generator {
	rng := rand.New(rand.NewPCG(seed, uint64(index)))
	g := &Generator{ID: ID(index), rng: rng}
	g.Place = Places[rng.IntN(len(Places))]
	g.fuel = between(rng, StartFuelMin, StartFuelMax)
	return g
}

// between draws uniformly from [lo, hi].
func between(rng *rand.Rand, lo, hi int64) int64 {
	return lo + rng.Int64N(hi-lo+1)
}

// Fuel returns the current fuel level.
func (g *Generator) Fuel() int64 { return g.fuel }

// Seq returns the sequence number of the last reading (0 before the first).
func (g *Generator) Seq() uint64 { return g.seq }

// Next advances the model by one tick at time now and returns the reading:
// load is drawn from 0..100, temperature and power from its band; fuel then
// drops by the band's burn, or, when it was <= 0, is refilled by 500..1000
// instead. Times are made strictly increasing per generator (1 ns steps), so
// that (generator, time) identifies a reading, as InfluxDB requires.
func (g *Generator) Next(now time.Time) model.Reading {
	load := between(g.rng, 0, MaxLoad)
	b := BandFor(load)
	temp := between(g.rng, b.TempMin, b.TempMax)
	power := between(g.rng, b.PowerMin, b.PowerMax)
	if g.fuel <= 0 {
		g.fuel += between(g.rng, RefillMin, RefillMax)
	} else {
		g.fuel -= between(g.rng, b.BurnMin, b.BurnMax)
	}
	g.seq++
	t := now.UnixNano()
	if t <= g.lastTime {
		t = g.lastTime + 1
	}
	g.lastTime = t
	return model.Reading{
		GeneratorID: g.ID, Time: t, Seq: g.seq,
		Lat: g.Place.Lat, Lon: g.Place.Lon,
		Temperature: temp, Power: power, Load: load, Fuel: g.fuel,
	}
}
