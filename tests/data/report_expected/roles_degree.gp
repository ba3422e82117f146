# roles_degree.gp: degree histogram at the end, by role
# written by tidepool report; data: roles_degree_K.dat (one per series, a block per role), query: roles_degree.sql
# redraw: gnuplot roles_degree.gp (in this directory)
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
    set terminal pngcairo size 960,540 noenhanced font 'sans,10'
} else {
    set terminal png size 960,540 noenhanced
}
set output 'roles_degree.png'
set linetype 1 lc rgb '#1f77b4' lw 2 pt 7
set linetype 2 lc rgb '#d62728' lw 2 pt 7
set linetype 3 lc rgb '#2ca02c' lw 2 pt 7
set linetype 4 lc rgb '#ff7f0e' lw 2 pt 7
set linetype 5 lc rgb '#9467bd' lw 2 pt 7
set linetype 6 lc rgb '#8c564b' lw 2 pt 7
set linetype 7 lc rgb '#e377c2' lw 2 pt 7
set linetype 8 lc rgb '#7f7f7f' lw 2 pt 7
set linetype cycle 8
set title 'degree histogram at the end, by role'
set xlabel 'open connections at the end'
set ylabel 'fraction of the role''s nodes'
set grid
set key below
set yrange [0:1.05]
plot 'roles_degree_1.dat' index 0 using 1:3 with linespoints lt 1 title 'fixture.db #1 seed 1 min_conn=2 nodes=5: role attacker', \
     'roles_degree_1.dat' index 1 using 1:3 with linespoints lt 2 title 'fixture.db #1 seed 1 min_conn=2 nodes=5: role node', \
     'roles_degree_2.dat' index 0 using 1:3 with linespoints lt 3 title 'fixture.db #2 seed 2 min_conn=1 nodes=3: role node'

set terminal svg size 960,540 noenhanced font 'sans,10' background '#ffffff'
set output 'roles_degree.svg'
replot
unset output
