# components.gp: connected components over time
# written by tidepool report; data: components_K.dat (one per series), query: components.sql
# redraw: gnuplot components.gp (in this directory)
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
    set terminal pngcairo size 960,540 noenhanced font 'sans,10'
} else {
    set terminal png size 960,540 noenhanced
}
set output 'components.png'
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
set title 'connected components over time'
set xlabel 'virtual time (s)'
set ylabel 'components (log scale)'
set grid
set key below
set offsets graph 0, graph 0, graph 0.05, graph 0
set xrange [0:*]
set logscale y 2
set yrange [0.9:*]
set object 1 rect from 5.5, graph 0 to 7.5, graph 1 behind fc rgb '#f4c7c3' fs solid 0.5 noborder
plot \
    'components_1.dat' using 1:2 with steps lc 1 title 'fixture.db #1 seed 1 min_conn=2 nodes=5', \
    'components_2.dat' using 1:2 with steps lc 2 title 'fixture.db #2 seed 2 min_conn=1 nodes=3'

set terminal svg size 960,540 noenhanced font 'sans,10' background '#ffffff'
set output 'components.svg'
replot
unset output
