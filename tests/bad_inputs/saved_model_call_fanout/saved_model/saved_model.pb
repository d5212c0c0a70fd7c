€E
"serve§D

xPlaceholder*
dtype0
I
yStatefulPartitionedCallx*
Tin
2*
fR
f0*
Tout
2µC
Ö

f0
a
outL
leftStatefulPartitionedCalla*
Tin
2*
fR
f1*
Tout
2Y
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f1*
Tout
2"
outright:output:0
Ö

f1
a
outL
leftStatefulPartitionedCalla*
Tin
2*
fR
f2*
Tout
2Y
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f2*
Tout
2"
outright:output:0
Ö

f2
a
outL
leftStatefulPartitionedCalla*
Tin
2*
fR
f3*
Tout
2Y
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f3*
Tout
2"
outright:output:0
Ö

f3
a
outL
leftStatefulPartitionedCalla*
Tin
2*
fR
f4*
Tout
2Y
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f4*
Tout
2"
outright:output:0
Ö

f4
a
outL
leftStatefulPartitionedCalla*
Tin
2*
fR
f5*
Tout
2Y
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f5*
Tout
2"
outright:output:0
Ö

f5
a
outL
leftStatefulPartitionedCalla*
Tin
2*
fR
f6*
Tout
2Y
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f6*
Tout
2"
outright:output:0
Ö

f6
a
outL
leftStatefulPartitionedCalla*
Tin
2*
fR
f7*
Tout
2Y
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f7*
Tout
2"
outright:output:0
Ö

f7
a
outL
leftStatefulPartitionedCalla*
Tin
2*
fR
f8*
Tout
2Y
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f8*
Tout
2"
outright:output:0
Ö

f8
a
outL
leftStatefulPartitionedCalla*
Tin
2*
fR
f9*
Tout
2Y
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f9*
Tout
2"
outright:output:0
Ø

f9
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f10*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f10*
Tout
2"
outright:output:0
Ù

f10
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f11*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f11*
Tout
2"
outright:output:0
Ù

f11
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f12*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f12*
Tout
2"
outright:output:0
Ù

f12
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f13*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f13*
Tout
2"
outright:output:0
Ù

f13
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f14*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f14*
Tout
2"
outright:output:0
Ù

f14
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f15*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f15*
Tout
2"
outright:output:0
Ù

f15
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f16*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f16*
Tout
2"
outright:output:0
Ù

f16
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f17*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f17*
Tout
2"
outright:output:0
Ù

f17
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f18*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f18*
Tout
2"
outright:output:0
Ù

f18
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f19*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f19*
Tout
2"
outright:output:0
Ù

f19
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f20*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f20*
Tout
2"
outright:output:0
Ù

f20
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f21*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f21*
Tout
2"
outright:output:0
Ù

f21
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f22*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f22*
Tout
2"
outright:output:0
Ù

f22
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f23*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f23*
Tout
2"
outright:output:0
Ù

f23
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f24*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f24*
Tout
2"
outright:output:0
Ù

f24
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f25*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f25*
Tout
2"
outright:output:0
Ù

f25
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f26*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f26*
Tout
2"
outright:output:0
Ù

f26
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f27*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f27*
Tout
2"
outright:output:0
Ù

f27
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f28*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f28*
Tout
2"
outright:output:0
Ù

f28
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f29*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f29*
Tout
2"
outright:output:0
Ù

f29
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f30*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f30*
Tout
2"
outright:output:0
Ù

f30
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f31*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f31*
Tout
2"
outright:output:0
Ù

f31
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f32*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f32*
Tout
2"
outright:output:0
Ù

f32
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f33*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f33*
Tout
2"
outright:output:0
Ù

f33
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f34*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f34*
Tout
2"
outright:output:0
Ù

f34
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f35*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f35*
Tout
2"
outright:output:0
Ù

f35
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f36*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f36*
Tout
2"
outright:output:0
Ù

f36
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f37*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f37*
Tout
2"
outright:output:0
Ù

f37
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f38*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f38*
Tout
2"
outright:output:0
Ù

f38
a
outM
leftStatefulPartitionedCalla*
Tin
2*
fR
f39*
Tout
2Z
rightStatefulPartitionedCallleft:output:0*
Tin
2*
fR
f39*
Tout
2"
outright:output:0
K

f39
a
out
leafIdentitya*
T0"
outleaf:output:0"ˆ*K
serving_default8

x
x:0
y
y:0tensorflow/serving/predict