/*
** pcre_jit_bench.c -- the regex engines alone, no Lua: PCRE2's JIT (what
** fastmatch runs) against PCRE1's JIT (libpcre.so.3, what ngx.re runs in
** Debian's nginx) on the log-line patterns of spec/hosts/fm_bench.lua, over
** 100 000 generated combined-log lines; median of 7 rounds, ns a match.
** It answers one question: is the engine what makes ngx.re.find faster on
** the anchored request line?  (It is not: see docs/every-lua.md, "Measured".)
** No PCRE1 headers are installed (libpcre3-dev), so the four functions used
** are declared here by hand.  Build and run (not part of make):
**   cc -O2 -o /tmp/pcre_jit_bench csrc/tools/pcre_jit_bench.c -lpcre2-8 \
**      /usr/lib/x86_64-linux-gnu/libpcre.so.3 && /tmp/pcre_jit_bench
*/
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
typedef struct real_pcre pcre;
typedef struct pcre_extra pcre_extra;
extern pcre *pcre_compile(const char *, int, const char **, int *, const unsigned char *);
extern pcre_extra *pcre_study(const pcre *, int, const char **);
extern int pcre_exec(const pcre *, const pcre_extra *, const char *, int, int, int, int *, int);
extern int pcre_fullinfo(const pcre *, const pcre_extra *, int, void *);
#define PCRE_STUDY_JIT_COMPILE 0x0001
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
#define N 100000
static char *L[N]; static size_t LN[N];
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(void){
  const char *pats[] = {"^\\S+ \\S+ \\S+ \\[[^\\]]+\\] \"\\w+ [^ \"]+", "\" (5\\d\\d) ", "etc/passwd", "^(\\S+) \\S+ \\S+ \\[([^\\]]+)\\] \"(\\w+) ([^ \"]+)"};
  srand(1);
  const char *paths[]={"/index.html","/api/v1/items?id=4242","/static/app.js","/login","/search?q=abc"};
  for(int i=0;i<N;i++){char b[300];snprintf(b,sizeof b,"%d.%d.0.%d - - [30/Nov/2026:05:%02d:%02d +0000] \"%s %s HTTP/1.1\" %d %d \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"",
     rand()%256,rand()%256,rand()%256,rand()%60,rand()%60,rand()%4?"GET":"POST",paths[rand()%5],(int[]){200,301,404,500,502}[rand()%5],rand()%90000);
     L[i]=strdup(b);LN[i]=strlen(b);}
  for(int k=0;k<4;k++){
    const char *p=pats[k]; int ec; PCRE2_SIZE eo;
    pcre2_code *c2=pcre2_compile((PCRE2_SPTR)p,PCRE2_ZERO_TERMINATED,0,&ec,&eo,NULL);
    pcre2_jit_compile(c2,PCRE2_JIT_COMPLETE);
    pcre2_match_data *md=pcre2_match_data_create_from_pattern(c2,NULL);
    pcre2_match_context *mc=pcre2_match_context_create(NULL);
    pcre2_jit_stack *js=pcre2_jit_stack_create(65536,4<<20,NULL);pcre2_jit_stack_assign(mc,NULL,js);
    const char *err; int eoff;
    pcre *c1=pcre_compile(p,0,&err,&eoff,NULL); pcre_extra *x1=pcre_study(c1,PCRE_STUDY_JIT_COMPILE,&err);
    int ov1[30];
    double t2[7],t1[7],t2m[7]; long m1=0,m2=0;
    for(int r=0;r<7;r++){
      double t=now(); m2=0; for(int i=0;i<N;i++) m2+= pcre2_jit_match(c2,(PCRE2_SPTR)L[i],LN[i],0,0,md,mc)>=0; t2[r]=(now()-t)/N*1e9;
      t=now(); for(int i=0;i<N;i++) pcre2_match(c2,(PCRE2_SPTR)L[i],LN[i],0,0,md,mc); t2m[r]=(now()-t)/N*1e9;
      t=now(); m1=0; for(int i=0;i<N;i++) m1+= pcre_exec(c1,x1,L[i],(int)LN[i],0,0,ov1,30)>=0; t1[r]=(now()-t)/N*1e9;
    }
    qsort(t2,7,8,cmp);qsort(t1,7,8,cmp);qsort(t2m,7,8,cmp);
    printf("%-55s pcre2_jit_match %6.1f ns  pcre2_match %6.1f  pcre1 jit %6.1f ns  (%ld/%ld match)\n",p,t2[3],t2m[3],t1[3],m2,m1);
  }
}
