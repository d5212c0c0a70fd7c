Ð
"serve÷

xPlaceholder*
dtype0
K
yStatefulPartitionedCallx*
Tin
2*
fR
loop*
Tout
2ƒ
€

loop
a
outO
againStatefulPartitionedCalla*
Tin
2*
fR
loop*
Tout
2"
outagain:output:0"ˆ*K
serving_default8

x
x:0
y
y:0tensorflow/serving/predict