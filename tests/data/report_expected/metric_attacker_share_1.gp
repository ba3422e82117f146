# metric_attacker_share_1.gp: attacker_share over time
# written by tidepool report; data: metric_attacker_share_1_K.dat (one per series), query: metric_attacker_share_1.sql
# redraw: gnuplot metric_attacker_share_1.gp (in this directory)
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
    set terminal pngcairo size 960,540 noenhanced font 'sans,10'
} else {
    set terminal png size 960,540 noenhanced
}
set output 'metric_attacker_share_1.png'
set linetype 1 lc rgb '#1f77b4' lw 2
set linetype 2 lc rgb '#d62728' lw 2
set linetype 3 lc rgb '#2ca02c' lw 2
set linetype 4 lc rgb '#ff7f0e' lw 2
set linetype 5 lc rgb '#9467bd' lw 2
set linetype 6 lc rgb '#8c564b' lw 2
set linetype 7 lc rgb '#e377c2' lw 2
set linetype 8 lc rgb '#7f7f7f' lw 2
set linetype cycle 8
set title 'attacker_share over time'
set xlabel 'virtual time (s)'
set ylabel 'attacker_share (fraction)'
set grid
set key below
set offsets graph 0, graph 0, graph 0.05, graph 0
set style fill transparent solid 0.15 noborder
plot 'metric_attacker_share_1_1.dat' using 1:2 with steps lt 1 title 'fixture.db #1 seed 1 min_conn=2 nodes=5', \
     'metric_attacker_share_1_2.dat' using 1:2 with steps lt 2 title 'fixture.db #2 seed 2 min_conn=1 nodes=3'

set terminal svg size 960,540 noenhanced font 'sans,10' background '#ffffff'
set output 'metric_attacker_share_1.svg'
replot
unset output
