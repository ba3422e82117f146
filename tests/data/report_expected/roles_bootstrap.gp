# roles_bootstrap.gp: time to bootstrap (min connections) CDF, by role
# written by tidepool report; data: roles_bootstrap_K.dat (one per series, a block per role), query: roles_bootstrap.sql
# redraw: gnuplot roles_bootstrap.gp (in this directory)
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
    set terminal pngcairo size 960,540 noenhanced font 'sans,10'
} else {
    set terminal png size 960,540 noenhanced
}
set output 'roles_bootstrap.png'
set linetype 1 lc rgb '#1f77b4' lw 2 pt 7
set linetype 2 lc rgb '#d62728' lw 2 pt 7
set linetype 3 lc rgb '#2ca02c' lw 2 pt 7
set linetype 4 lc rgb '#ff7f0e' lw 2 pt 7
set linetype 5 lc rgb '#9467bd' lw 2 pt 7
set linetype 6 lc rgb '#8c564b' lw 2 pt 7
set linetype 7 lc rgb '#e377c2' lw 2 pt 7
set linetype 8 lc rgb '#7f7f7f' lw 2 pt 7
set linetype cycle 8
set title 'time to bootstrap (min connections) CDF, by role'
set xlabel 'seconds after the node (re)started'
set ylabel 'fraction of the role''s (re)starts'
set grid
set key below
set yrange [0:1.05]
plot 'roles_bootstrap_1.dat' index 0 using 1:2 with steps lt 1 title 'fixture.db #1 seed 1 min_conn=2 nodes=5: role attacker', \
     'roles_bootstrap_1.dat' index 1 using 1:2 with steps lt 2 title 'fixture.db #1 seed 1 min_conn=2 nodes=5: role node', \
     'roles_bootstrap_2.dat' index 0 using 1:2 with steps lt 3 title 'fixture.db #2 seed 2 min_conn=1 nodes=3: role node'

set terminal svg size 960,540 noenhanced font 'sans,10' background '#ffffff'
set output 'roles_bootstrap.svg'
replot
unset output
