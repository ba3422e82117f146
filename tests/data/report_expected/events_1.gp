# events_1.gp: event kinds over time: fixture.db #1 seed 1 min_conn=2 nodes=5
# written by tidepool report; data: events_1_K.dat (one per series), query: events.sql
# redraw: gnuplot events_1.gp (in this directory)
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
    set terminal pngcairo size 960,540 noenhanced font 'sans,10'
} else {
    set terminal png size 960,540 noenhanced
}
set output 'events_1.png'
set linetype 1 lc rgb '#1f77b4' lw 2
set linetype 2 lc rgb '#d62728' lw 2
set linetype 3 lc rgb '#2ca02c' lw 2
set linetype 4 lc rgb '#ff7f0e' lw 2
set linetype 5 lc rgb '#9467bd' lw 2
set linetype 6 lc rgb '#8c564b' lw 2
set linetype 7 lc rgb '#e377c2' lw 2
set linetype 8 lc rgb '#7f7f7f' lw 2
set linetype 9 lc rgb '#bcbd22' lw 2
set linetype 10 lc rgb '#17becf' lw 2
set linetype 11 lc rgb '#393b79' lw 2
set linetype 12 lc rgb '#637939' lw 2
set linetype cycle 12
set title 'event kinds over time: fixture.db #1 seed 1 min_conn=2 nodes=5'
set xlabel 'virtual time (s)'
set ylabel 'events per second'
set grid
set key below
set offsets graph 0, graph 0, graph 0.05, graph 0
set xrange [0:*]
set yrange [0:*]
plot \
    'events_1.dat' using 1:2 with lines lc 1 title 'connection_established', \
    'events_1.dat' using 1:3 with lines lc 2 title 'node_started', \
    'events_1.dat' using 1:4 with lines lc 3 title 'disconnection', \
    'events_1.dat' using 1:5 with lines lc 4 title 'greylist_ip', \
    'events_1.dat' using 1:6 with lines lc 5 title 'ban', \
    'events_1.dat' using 1:7 with lines lc 6 title 'greylist_peer'

set terminal svg size 960,540 noenhanced font 'sans,10' background '#ffffff'
set output 'events_1.svg'
replot
unset output
